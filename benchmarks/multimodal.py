"""Multimodal models over seeds: train `configs/mm/<model>.yaml` on a dataset, select on validation MAE, score test.

    python benchmarks/multimodal.py --model almt --dataset synmosi --seeds 1 2 3
    python benchmarks/multimodal.py --model mosi-text --dataset mosi-text --seeds 1 2 3 4 5

Each seed's run lives in `<runs>/<dataset>/<model>/seed<n>`; its test metrics go to `test_metrics.json` and its
per-clip test predictions to `test_values.npy` beside `best/` (what `benchmarks/multimodal_analysis.py` reads for
paired bootstrap comparisons and robustness sweeps). Run folders are not committed, so each scored seed is also
recorded in results/multimodal_seeds/<dataset>/<model>/seed<n>.json (its metrics, validation score and per-clip test
predictions): a seed recorded there is not trained again, so seeds accumulate across machines and sessions, and a
row over `--seeds 1 2 3 4 5` can be written from records made at different times. Records of seeds scored before the
records existed hold the metrics from their row only (`test_values` null). One row per (model, dataset) in
results/multimodal.json: MMSA's regression metrics (mean and sample std over seeds; MMSA itself reports the
population std, also stored). SynMOSI rows hold under the generator (docs/synmosi.md), not on real MOSI features."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

import numpy as np
from common import RESULTS, command_line, summary, write_rows

CONFIGS = Path(__file__).parents[1] / "configs" / "mm"
SEEDS = RESULTS / "multimodal_seeds"
# MMSA metric keys -> the result schema's names (BENCHMARKS.md)
SCHEMA = {
    "has0_acc2": "acc2_has0",
    "non0_acc2": "acc2_non0",
    "has0_f1": "f1_has0",
    "non0_f1": "f1_non0",
    "acc5": "acc5",
    "acc7": "acc7",
    "mae": "mae",
    "corr": "corr",
}


def record_path(dataset: str, name: str, seed: int, root: Path | None = None) -> Path:
    """Where one scored seed of `name` on `dataset` is recorded (committed, unlike the run folder); `root`: SEEDS."""
    return (root or SEEDS) / dataset.replace(":", "_").replace("/", "_") / name / f"seed{seed}.json"


def record_seed(dataset: str, name: str, row: dict, values: np.ndarray | None) -> None:
    """Record a scored seed: metrics, validation, best step and the per-clip test predictions (6 decimals)."""
    from sentimentkit.training.experiment import environment

    path = record_path(dataset, name, row["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    listed = None if values is None else [round(float(v), 6) for v in np.asarray(values).reshape(-1)]
    record = {**row, "command": command_line(), "env": environment(), "test_values": listed}
    path.write_text(json.dumps(record) + "\n")


def run_seed(
    config: Path,
    dataset: str,
    seed: int,
    out: Path,
    overrides: list[str],
    data_dir: str | None,
    name: str,
    need_values: bool = False,
) -> dict:
    """Train one seed (resuming), then score its best model on the test split.

    Cached in the run folder's test_metrics.json and in the committed seed record; either one skips training, except
    that with `need_values` a record without per-clip predictions (a backfilled one) is trained again and replaced.
    """
    from sentimentkit.hub import read_manifest
    from sentimentkit.models.base import Runtime
    from sentimentkit.tasks.base import TASKS
    from sentimentkit.training.experiment import load_experiment, train

    scored = out / "test_metrics.json"
    record = record_path(dataset, name, seed)
    if scored.exists():
        row = json.loads(scored.read_text())
        if not record.exists():
            values = np.load(out / "test_values.npy") if (out / "test_values.npy").exists() else None
            record_seed(dataset, name, row, values)
        return row
    if record.exists():
        kept = json.loads(record.read_text())
        if not need_values or kept.get("test_values") is not None:
            return kept
    extra = [*overrides, f"data.train={dataset}", f"train.seed={seed}", f"output={out}"]
    if data_dir:
        extra.append(f"data.data_dir={data_dir}")
    result = train(load_experiment(config, extra), progress=False)
    manifest = read_manifest(out / "best")
    task, module = TASKS.get(manifest.task).from_manifest(manifest, Runtime("transformers"))
    examples = task.examples(dataset, "test", data_dir)
    items = task.encode(examples)
    values = task.predict_values(module, items, 64)
    np.save(out / "test_values.npy", values)
    from sentimentkit.multimodal.metrics import mmsa_regression

    metrics = mmsa_regression(values, np.array([x.label for x in examples], dtype=np.float64))
    row = {"seed": seed, "test": metrics, "validation": result.best_metrics, "best_step": result.best_step}
    scored.write_text(json.dumps(row, indent=2) + "\n")
    record_seed(dataset, name, row, values)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a config name in configs/mm/, e.g. almt")
    parser.add_argument("--dataset", default="synmosi", help="synmosi[:key=value,...], mosi-text, or a path")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="dotted config override")
    parser.add_argument("--runs", default="runs/mm")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--need-values",
        action="store_true",
        help="train again any seed whose record lacks per-clip test predictions (paired comparisons need them)",
    )
    parser.add_argument(
        "--recorded-only",
        action="store_true",
        help="write the row from the seeds already scored (run folder or record) and train nothing",
    )
    args = parser.parse_args()

    import torch

    from sentimentkit.training.experiment import environment, load_experiment

    torch.set_num_threads(1)
    config = CONFIGS / f"{args.model}.yaml"
    name = args.model
    if args.overrides:
        name += "~" + hashlib.sha1(json.dumps(sorted(args.overrides)).encode()).hexdigest()[:8]
    runs = Path(args.runs) / args.dataset.replace(":", "_").replace("/", "_") / name
    runs.mkdir(parents=True, exist_ok=True)
    if args.overrides:
        (runs / "overrides.json").write_text(json.dumps(sorted(args.overrides)) + "\n")
    if args.recorded_only:
        found = [s for s in args.seeds if (runs / f"seed{s}" / "test_metrics.json").exists()]
        found += [s for s in args.seeds if s not in found and record_path(args.dataset, name, s).exists()]
        if not found:
            raise SystemExit(f"{name} on {args.dataset}: no seed of {args.seeds} is scored yet")
        if len(found) < len(args.seeds):
            print(f"{name}: not scored yet, left out of the row: seeds {sorted(set(args.seeds) - set(found))}")
        args.seeds = sorted(found)
    results = [
        run_seed(config, args.dataset, s, runs / f"seed{s}", args.overrides, args.data_dir, name, args.need_values)
        for s in args.seeds
    ]
    experiment = load_experiment(config, [*args.overrides, f"data.train={args.dataset}"])
    metrics = {}
    for key, schema in SCHEMA.items():
        values = [float(r["test"][key]) for r in results]
        metrics[schema] = {**summary(values), "std_population": float(np.std(values))}
    row = {
        "suite": "multimodal",
        "task": "multimodal-regression",
        "dataset": args.dataset,
        "split": "test",
        "model": name,
        "backbone": "all-MiniLM-L6-v2",
        "metrics": metrics,
        "settings": {
            "text_encoder": experiment.model.get("text_encoder", "frozen"),
            "max_length": experiment.data.max_length,
            "epochs": experiment.train.epochs,
            "patience": experiment.train.patience,
            "selection": f"validation {experiment.train.metric}",
            "overrides": sorted(args.overrides) or None,
            "seeds": args.seeds,
        },
        "command": re.sub(r"--seeds( \d+)+", "--seeds " + " ".join(map(str, args.seeds)), command_line()),
        "env": environment(),
    }
    if args.dataset.startswith("synmosi"):
        from sentimentkit.multimodal.synmosi import GENERATOR_VERSION

        row["settings"]["generator"] = f"SynMOSI {GENERATOR_VERSION}: conclusions hold under the generator"
    write_rows("multimodal", [row])
    print(json.dumps({k: round(v["mean"], 4) for k, v in metrics.items()}))


if __name__ == "__main__":
    main()
