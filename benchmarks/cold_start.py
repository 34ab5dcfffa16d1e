"""Cold start: wall time and peak memory of `sentimentkit analyze "text"` (with and without aspects) and
`sentimentkit aspects "text"` in a fresh process, median of several runs.

    python benchmarks/cold_start.py [--runs 7] [--against PATH]

Each run starts a new Python process through the installed console script, so it pays for imports, loading
the backbone and adapters, tokenizing and printing, as a user does. An `import sentimentkit` run is measured
beside it for scale. Peak memory is the child's own peak resident set size over its whole life (`ru_maxrss` from
`os.wait4`, taken by the small launcher `_rusage.py`, which also times the child); the ratio of the peak with
aspects to the peak without them is what adding the aspect model costs in memory.

`--against PATH` measures another version side by side in the same run (e.g. `git worktree add ../prev
HEAD~1`): each command runs as `python -P -m sentimentkit.cli ...` (-P: the current directory is not put on the
path, so PYTHONPATH decides) with PYTHONPATH set to this checkout and to PATH in turn, alternating run by run,
and it prints the medians and their ratios (this version / that one). `--bulk N` adds throughput: the first N
SST-5 test sentences through `analyze --no-aspects -f FILE -o OUT` and the first N Restaurant14 test sentences
through `aspects -f FILE -o OUT`, each a fresh process (so start-up is inside the time; texts/s = N / wall).
With `--against`, rows (task "versus-previous", ratios this / that) go to results/document.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common import command_line, summary, write_rows

from sentimentkit.training.experiment import environment

TEXT = "The battery life is great but the screen is dim."
LAUNCHER = Path(__file__).with_name("_rusage.py")


@dataclass
class Runs:
    """Per-run wall times (ms) and peak RSS (MB) of one command."""

    ms: list[float]
    rss_mb: list[float]

    @property
    def ms_median(self) -> float:
        return statistics.median(self.ms)

    @property
    def rss_median(self) -> float:
        return statistics.median(self.rss_mb)


def run_once(command: list[str]) -> tuple[float, float]:
    """Run `command` in a fresh process: (wall time in ms, the child's peak RSS in MB). Fails on a non-zero exit.

    The child is spawned and waited for (`os.wait4`) by `_rusage.py`, a bare `python -S` launcher: a child's
    ru_maxrss on Linux starts at its spawner's RSS high-water mark, and this process has imported torch.
    """
    with tempfile.TemporaryFile() as stderr:
        out = subprocess.run(
            [sys.executable, "-S", str(LAUNCHER), *command], stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        if out.returncode != 0:
            stderr.seek(0)
            message = stderr.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(command)} exited with {out.returncode}:\n{message}")
    ms, mb = out.stdout.split()
    return float(ms), float(mb)


def measure(command: list[str], runs: int) -> Runs:
    run_once(command)  # warm the file cache once
    result = Runs([], [])
    for _ in range(runs):
        ms, rss = run_once(command)
        result.ms.append(ms)
        result.rss_mb.append(rss)
    return result


def measure_pair(command: list[str], ours: Path, theirs: Path, runs: int) -> tuple[Runs, Runs]:
    """The same command on two checkouts, alternating run by run so that load on the machine hits both alike."""

    def on(root: Path) -> list[str]:
        return [
            shutil.which("env") or "/usr/bin/env",
            f"PYTHONPATH={root}",
            sys.executable,
            "-P",
            "-m",
            "sentimentkit.cli",
            *command,
        ]

    for root in (ours, theirs):
        run_once(on(root))  # warm the file cache
    a, b = Runs([], []), Runs([], [])
    for _ in range(runs):
        for root, result in ((ours, a), (theirs, b)):
            ms, rss = run_once(on(root))
            result.ms.append(ms)
            result.rss_mb.append(rss)
    return a, b


def median_metric(values: list[float]) -> dict:
    """A per-run median in the result schema (`mean` holds the median, as the other speed rows do)."""
    return {**summary(values), "mean": statistics.median(values), "aggregate": "median"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--against", type=Path, help="another checkout to measure side by side (ratios)")
    parser.add_argument("--bulk", type=int, default=0, help="with --against: also N texts through -f FILE")
    parser.add_argument("--data-dir", default=None, help="benchmark data folder (default: the configured one)")
    args = parser.parse_args()
    if args.against is not None:
        compare(args.against.resolve(), args.runs, args.bulk, args.data_dir)
        return

    cli = shutil.which("sentimentkit")
    if cli is None:
        sys.exit("the sentimentkit command is not on PATH: install the package first (pip install -e .)")
    commands = {  # model(s) -> the command a user types
        "sentiment-en + absa-en": [cli, "analyze", TEXT],  # the default: document sentiment and aspects
        "sentiment-en": [cli, "analyze", "--no-aspects", TEXT],
        "absa-en": [cli, "aspects", TEXT],
    }
    results = {name: measure(command, args.runs) for name, command in commands.items()}
    bare = measure([sys.executable, "-c", "import sentimentkit"], args.runs)
    with_aspects, without = results["sentiment-en + absa-en"], results["sentiment-en"]
    rss_ratio = with_aspects.rss_median / without.rss_median
    for name, r in results.items():
        print(
            f"{name}: median {r.ms_median:.0f} ms, peak RSS {r.rss_median:.0f} MB  "
            f"(import alone {bare.ms_median:.0f} ms, {bare.rss_median:.0f} MB)"
        )
    print(f"peak RSS with aspects / without: {rss_ratio:.2f}")
    rows = []
    for name, r in results.items():
        metrics = {
            "latency_ms_p50": median_metric(r.ms),
            "peak_memory_mb": median_metric(r.rss_mb),
            "import_only_latency_ms_p50": median_metric(bare.ms),
            "import_only_peak_memory_mb": median_metric(bare.rss_mb),
        }
        if name == "sentiment-en + absa-en":
            metrics["peak_memory_vs_no_aspects"] = {**summary([rss_ratio]), "aggregate": "ratio of the medians"}
        rows.append(
            {
                "suite": "document",
                "task": "cold-start",
                "dataset": "one sentence",
                "split": "-",
                "model": name,
                "backbone": "all-MiniLM-L6-v2",
                "metrics": metrics,
                "settings": {
                    "max_length": 96,
                    "runs": args.runs,
                    "command_timed": "sentimentkit "
                    + " ".join(a if a != TEXT else f'"{TEXT}"' for a in commands[name][1:]),
                    "memory": "peak RSS of the whole process (ru_maxrss via wait4)",
                },
                "command": command_line(),
                "env": environment(),
            }
        )
    # these rows supersede every earlier cold-start row (older rows kept their measurements in `settings`)
    print(write_rows("document", rows, replace={"task": "cold-start"}))


def bulk_files(n: int, data_dir: str | None, folder: Path) -> dict[str, Path]:
    """The first n SST-5 and Restaurant14 test sentences, one per line, as the bulk commands' inputs."""
    from sentimentkit.data.datasets import load_dataset

    files = {}
    for name, dataset in (("sst5", "sst5"), ("restaurant14", "restaurant14-sentences")):
        texts = [x.text.replace("\n", " ") for x in load_dataset(dataset, "test", data_dir)][:n]
        files[name] = folder / f"{name}.txt"
        files[name].write_text("\n".join(texts) + "\n", encoding="utf-8")
    return files


def git_commit(root: Path) -> str:
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def compare(theirs: Path, runs: int, bulk: int = 0, data_dir: str | None = None) -> None:
    """This checkout against `theirs`, command by command: medians and ratios, printed and written as rows."""
    ours = Path(__file__).resolve().parents[1]
    commands = {
        "analyze (sentiment-en + absa-en), one sentence": ["analyze", TEXT],
        "analyze --no-aspects (sentiment-en), one sentence": ["analyze", "--no-aspects", TEXT],
        "aspects (absa-en), one sentence": ["aspects", TEXT],
    }
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        if bulk:
            files = bulk_files(bulk, data_dir, Path(tmp))
            out = Path(tmp) / "out.jsonl"
            for label, model, file, head in (
                ("analyze --no-aspects -f (sentiment-en)", "sentiment-en", files["sst5"], "SST-5"),
                ("aspects -f (absa-en)", "absa-en", files["restaurant14"], "Restaurant14"),
            ):
                count = len(file.read_text(encoding="utf-8").splitlines())
                verb = ["analyze", "--no-aspects"] if model == "sentiment-en" else ["aspects"]
                name = f"{label}, {count} {head} test sentences"
                commands[name] = [*verb, "-f", str(file), "-o", str(out)]
                counts[name] = count
        print(f"this checkout ({git_commit(ours)}) against {theirs.name} ({git_commit(theirs)}), {runs} runs each")
        cli = command_line().split()
        rows = []
        for name, command in commands.items():
            a, b = measure_pair(command, ours, theirs, runs)
            line = (
                f"{name}: wall {a.ms_median:.0f} vs {b.ms_median:.0f} ms (ratio {a.ms_median / b.ms_median:.2f}), "
                f"peak RSS {a.rss_median:.0f} vs {b.rss_median:.0f} MB (ratio {a.rss_median / b.rss_median:.2f})"
            )
            metrics = {
                "wall_ratio": {**summary([a.ms_median / b.ms_median]), "aggregate": "ratio of the medians"},
                "peak_memory_ratio": {**summary([a.rss_median / b.rss_median]), "aggregate": "ratio of the medians"},
                "latency_ms_p50": median_metric(a.ms),
                "previous_latency_ms_p50": median_metric(b.ms),
                "peak_memory_mb": median_metric(a.rss_mb),
                "previous_peak_memory_mb": median_metric(b.rss_mb),
            }
            if name in counts:
                metrics["samples_per_s"] = median_metric([counts[name] * 1000 / ms for ms in a.ms])
                metrics["previous_samples_per_s"] = median_metric([counts[name] * 1000 / ms for ms in b.ms])
                rates = metrics["samples_per_s"]["mean"], metrics["previous_samples_per_s"]["mean"]
                line += f"; {rates[0]:.1f} vs {rates[1]:.1f} texts/s"
            print(line, flush=True)
            rows.append(
                {
                    "suite": "document",
                    "task": "versus-previous",
                    "dataset": name,
                    "split": "test" if name in counts else "-",
                    "model": "shipped defaults",
                    "backbone": "all-MiniLM-L6-v2",
                    "metrics": metrics,
                    "settings": {
                        "this": git_commit(ours),
                        "previous": git_commit(theirs),
                        "runs": runs,
                        "order": "alternating run by run, fresh process each (start-up included)",
                        "command_timed": "sentimentkit "
                        + " ".join(a if a != TEXT else f'"{TEXT}"' for a in command if not a.startswith(tmp)),
                    },
                    # the other checkout by its folder name: no machine path in a committed row
                    "command": " ".join(a if Path(a).resolve() != theirs else f"../{theirs.name}" for a in cli),
                    "env": environment(),
                }
            )
    print(write_rows("document", rows, replace={"task": "versus-previous"}))


if __name__ == "__main__":
    main()
