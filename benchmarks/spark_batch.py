"""Batch scoring on Spark against the plain CLI, on the same file, in one run.

    python benchmarks/spark_batch.py [--rows 100000] [--dataset imdb|sst5] [--repeats 1] [--aspects]

The input is one CSV (id, text) of `--rows` reviews: IMDb's train, test and unlabelled reviews (100,000 in all,
about 300 tokens each; repeated if more are asked for), or SST-5's sentences (repeated to the count). Each run is
a fresh process on that file, timed from start to exit (JVM and model start-up included, as a user waits for it):
`sentimentkit analyze --file IN.csv -o out.csv` with 1 torch thread and with 2, and `sentimentkit batch IN.csv
-o out.parquet --spark local[1]` and `local[2]` (one single-threaded model per Spark core). The four runs are
interleaved, repeat by repeat, so that drift on the machine hits them alike. Rows/s per run, and the ratios
local[2] / local[1] (target >= 1.7) and local[1] / CLI with 1 thread (target >= 0.75: within 25 % at equal
cores), go to results/spark.json.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import command_line, summary, write_rows

from sentimentkit.training.experiment import environment

TARGETS = {"local2_over_local1": 1.7, "local1_over_cli_1_thread": 0.75}


def texts(dataset: str, rows: int) -> list[str]:
    """`rows` texts of the dataset, in a fixed order (repeated when the dataset has fewer)."""
    from sentimentkit.data.datasets import data_dir, load_dataset

    if dataset == "imdb":
        from sentimentkit.data.readers import read_imdb_csv

        folder = data_dir() / "imdb"
        pool = (x.text for name in ("train", "test", "unsup") for x in read_imdb_csv(folder / f"{name}.csv.xz"))
    else:
        pool = (x.text for split in ("train", "validation", "test") for x in load_dataset("sst5", split))
    found = list(itertools.islice(pool, rows))
    if not found:
        raise SystemExit(f"no {dataset} texts found in {data_dir()}")
    return list(itertools.islice(itertools.cycle(found), rows))


def write_input(path: Path, rows: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text"])
        writer.writerows((f"r{i}", text) for i, text in enumerate(rows))


def commands(source: Path, out: Path, model: str, aspects: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The four runs: name -> (command, environment changes)."""
    flag = ["--aspects"] if aspects else ["--no-aspects"]
    cli = [sys.executable, "-m", "sentimentkit.cli", "analyze", "--file", str(source), "--model", model, *flag]
    spark = [sys.executable, "-m", "sentimentkit.batch", str(source), "--model", model, "--overwrite"]
    spark += ["--id-column", "id", *flag, "--conf", "spark.ui.enabled=false"]
    one = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    two = {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    return {
        "cli-1-thread": ([*cli, "--id-column", "id", "-o", str(out / "cli1.csv")], one),
        "local[1]": ([*spark, "-o", str(out / "local1.parquet"), "--spark", "local[1]"], one),
        "cli-2-threads": ([*cli, "--id-column", "id", "-o", str(out / "cli2.csv")], two),
        "local[2]": ([*spark, "-o", str(out / "local2.parquet"), "--spark", "local[2]"], one),
    }


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds from start to exit of a fresh process; its output is kept only when it fails."""
    started = time.perf_counter()
    result = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dataset", choices=["imdb", "sst5"], default="imdb")
    parser.add_argument("--repeats", type=int, default=1, help="Interleaved rounds of the four runs.")
    parser.add_argument("--model", default="sentiment-en")
    parser.add_argument("--aspects", action="store_true", help="Also find aspects (absa-en) in every run.")
    parser.add_argument("--workdir", type=Path, default=None, help="Where the input and outputs go (default: tmp).")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="spark-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"{args.dataset}-{args.rows}.csv"
    write_input(source, texts(args.dataset, args.rows))
    runs = commands(source, work, args.model, args.aspects)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(args.repeats):
        for name, (command, env) in runs.items():
            seconds[name].append(timed(command, env))
            print(f"round {round_ + 1} {name}: {args.rows / seconds[name][-1]:.1f} rows/s", flush=True)
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)

    rate = {name: [args.rows / s for s in values] for name, values in seconds.items()}
    ratios = {
        "local2_over_local1": [b / a for a, b in zip(rate["local[1]"], rate["local[2]"], strict=True)],
        "local1_over_cli_1_thread": [b / a for a, b in zip(rate["cli-1-thread"], rate["local[1]"], strict=True)],
        "local2_over_cli_2_threads": [b / a for a, b in zip(rate["cli-2-threads"], rate["local[2]"], strict=True)],
    }
    for name, values in ratios.items():
        target = f" (target >= {TARGETS[name]})" if name in TARGETS else ""
        print(f"{name}: {statistics.median(values):.2f}{target}")

    model = f"{args.model} + absa-en" if args.aspects else args.model
    base = {
        "suite": "spark",
        "dataset": args.dataset,
        "split": "train+test+unsup" if args.dataset == "imdb" else "train+validation+test",
        "model": model,
        "backbone": "all-MiniLM-L6-v2",
        "command": command_line(),
        "env": environment(),
    }
    settings = {"rows": args.rows, "repeats": args.repeats, "timing": "process start to exit, start-up included"}
    rows = [
        {
            **base,
            "task": "batch-throughput",
            "metrics": {"samples_per_s": summary(values)},
            "settings": {**settings, "runner": name},
        }
        for name, values in rate.items()
    ]
    rows.append(
        {
            **base,
            "task": "batch-scaling",
            "metrics": {name: summary(values) for name, values in ratios.items()},
            "settings": {**settings, "targets": TARGETS},
        }
    )
    print(f"wrote {write_rows('spark', rows)}")


if __name__ == "__main__":
    main()
