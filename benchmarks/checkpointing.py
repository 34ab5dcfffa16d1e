"""Training peak memory with and without gradient checkpointing, measured side by side.

    python benchmarks/checkpointing.py                                   # full-ft, lora, moe; SST-5 (80) and IMDb (256)
    python benchmarks/checkpointing.py --models lora --settings imdb:512 --repeats 3

Each measurement is a fresh process (`_peak_memory.py`: 5 training steps at batch 32, one thread, peak RSS during
the steps minus RSS before them, in MB), alternating off/on so that drift on the machine hits both alike. The
saving is 1 - on/off per repeat; the median goes to results/efficiency.json (task gradient-checkpointing).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from common import command_line, summary, write_rows

from sentimentkit.training.experiment import environment

SCRIPT = Path(__file__).with_name("_peak_memory.py")


def measure(model: str, dataset: str, max_length: int, checkpointing: bool) -> float:
    args = [sys.executable, str(SCRIPT), model, "--dataset", dataset, "--max-length", str(max_length)]
    args += ["--set", f"model.gradient_checkpointing={'true' if checkpointing else 'false'}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["full-ft", "lora", "moe"])
    parser.add_argument("--settings", nargs="+", default=["sst5:80", "imdb:256"], help="dataset:max_length")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for setting in args.settings:
        dataset, length = setting.split(":")
        for model in args.models:
            off, on = [], []
            for _ in range(args.repeats):
                off.append(measure(model, dataset, int(length), False))
                on.append(measure(model, dataset, int(length), True))
            saving = [1 - b / a for a, b in zip(off, on, strict=True)]
            print(f"{model:8s} {setting:9s} off {statistics.median(off):7.0f} MB  on {statistics.median(on):7.0f} MB"
                  f"  saving {statistics.median(saving):.1%}", flush=True)  # fmt: skip
            rows.append(
                {
                    "suite": "efficiency",
                    "task": "gradient-checkpointing",
                    "dataset": dataset,
                    "split": "train",
                    "model": model,
                    "backbone": "all-MiniLM-L6-v2",
                    "metrics": {
                        "training_memory_mb_off": summary(off),
                        "training_memory_mb_on": summary(on),
                        "memory_saving": {**summary(saving), "mean": statistics.median(saving), "aggregate": "median"},
                    },
                    "settings": {
                        "max_length": int(length),
                        "batch_size": 32,
                        "steps": 5,
                        "threads": 1,
                        "memory": "peak RSS during 5 training steps minus RSS before them (fresh process each)",
                    },
                    "command": command_line(),
                    "env": environment(),
                }
            )
    print(write_rows("efficiency", rows))


if __name__ == "__main__":
    main()
