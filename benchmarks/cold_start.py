"""Cold start: wall time of `sentimentkit analyze "text"` (with and without aspects) and `sentimentkit aspects
"text"` in a fresh process, median of several runs.

    python benchmarks/cold_start.py [--runs 7]

Each run starts a new Python process through the installed console script, so it pays for imports, loading
the backbone and adapters, tokenizing and printing, as a user does. An `import sentimentkit` run is timed
beside it for scale.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from common import command_line, summary, write_rows

from sentimentkit.training.experiment import environment

TEXT = "The battery life is great but the screen is dim."


def timed(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, check=True, capture_output=True)  # warm the file cache once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    cli = shutil.which("sentimentkit")
    if cli is None:
        sys.exit("the sentimentkit command is not on PATH: install the package first (pip install -e .)")
    commands = {  # model(s) -> the command a user types
        "sentiment-en + absa-en": [cli, "analyze", TEXT],  # the default: document sentiment and aspects
        "sentiment-en": [cli, "analyze", "--no-aspects", TEXT],
        "absa-en": [cli, "aspects", TEXT],
    }
    times = {name: timed(command, args.runs) for name, command in commands.items()}
    bare = timed([sys.executable, "-c", "import sentimentkit"], args.runs)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.0f} ms  (import alone {statistics.median(bare):.0f} ms)")
    rows = [
        {
            "suite": "document",
            "task": "cold-start",
            "dataset": "one sentence",
            "split": "-",
            "model": name,
            "backbone": "all-MiniLM-L6-v2",
            "metrics": {
                "latency_ms_p50": {**summary(values), "mean": statistics.median(values), "aggregate": "median"},
            },
            "settings": {
                "max_length": 96,
                "runs": args.runs,
                "command_timed": "sentimentkit "
                + " ".join(a if a != TEXT else f'"{TEXT}"' for a in commands[name][1:]),
                "import_only_ms_median": round(statistics.median(bare), 1),
            },
            "command": command_line(),
            "env": environment(),
        }
        for name, values in times.items()
    ]
    print(write_rows("document", rows))


if __name__ == "__main__":
    main()
