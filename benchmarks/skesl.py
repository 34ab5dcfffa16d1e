"""SKESL (sentiment-word pretraining) against no pretraining and the masked-LM control, on mosi-text.

    python benchmarks/skesl.py pretrain --arm skesl --pool 16000 --steps 500
    python benchmarks/skesl.py pretrain --arm mlm --pool 16000 --steps 500
    python benchmarks/skesl.py finetune --start none --seeds 1 2 3
    python benchmarks/skesl.py finetune --start skesl-16000 --seeds 1 2 3
    python benchmarks/skesl.py document --dataset sst5 --start skesl-16000 --seeds 1
    python benchmarks/skesl.py report

Pretraining (`configs/pretrain/<arm>-text.yaml`): MiniLM trained end to end on IMDb's unlabelled reviews cut into
sentences; the first `--pool` sentences of one fixed order (nested: 1600 of them are the first tenth of 16000), for
exactly `--steps` steps of 32 sentences whatever the pool (a smaller pool is read for more epochs), so the arms and
the data sizes get the same compute. Selection on the held-out sentences (2000 of the same text, the same slice for
every arm). Run folders: runs/skesl/pretrain/<arm>-<pool>/seed1.

Fine-tuning: `configs/mm/mosi-text.yaml` (text-regressor, MiniLM fine-tuned end to end, L1) from each starting point
with the same recipe (`--epochs`, default 4, fewer than the shipped 20 to fit CPU time; the same for every arm),
selection on validation MAE, test scored once. Runs: runs/skesl/mosi-text/<start>/seed<n>.

Document tasks (`document`): `configs/full-ft.yaml` (MiniLM fine-tuned end to end, mean pooled, fp32) on SST-5 or
TweetEval emotion from each starting point, `--doc-epochs` (default 1) epochs, selection on validation accuracy; runs in
runs/skesl/<dataset>/<start>/seed<n>.

Report: results/skesl.json, one row per starting point (mean and std over seeds of MMSA's metrics) and paired
bootstrap differences over test clips and seeds (SKESL minus each control: MAE and non0 Acc-2 with 95 % intervals).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import numpy as np
from common import command_line, summary, write_rows

ROOT = Path(__file__).parents[1]
RUNS = Path("runs/skesl")
BATCH = 32


def pretrain_dir(start: str) -> Path:
    return RUNS / "pretrain" / start / "seed1"


def pretrain(arm: str, pool: int, steps: int, data_dir: str | None) -> dict:
    from sentimentkit.training.experiment import load_experiment, train

    folder = pretrain_dir(f"{arm}-{pool}")
    done = folder / "pretrain_summary.json"
    if done.exists():
        return json.loads(done.read_text())
    epochs = steps * BATCH / pool
    overrides = [f"data.train_subset={pool}", f"train.epochs={epochs}", f"output={folder}", "train.seed=1"]
    overrides += [f"train.eval_every={max(1, steps // 4)}", f"train.checkpoint_every={max(1, steps // 4)}"]
    if data_dir:
        overrides.append(f"data.data_dir={data_dir}")
    config = load_experiment(ROOT / "configs" / "pretrain" / f"{arm}-text.yaml", overrides)
    result = train(config, progress=False)
    info = json.loads((folder / "best" / "pretraining.json").read_text())
    summary_row = {
        "arm": arm, "pool": pool, "steps": result.steps, "epochs": epochs, "best_step": result.best_step,
        "heldout": result.best_metrics, "seconds": round(result.seconds, 1),
        "tokens_seen": round(info["train_tokens"] * epochs), "data": info,
    }  # fmt: skip
    done.write_text(json.dumps(summary_row, indent=2) + "\n")
    return summary_row


def finetune(start: str, seeds: list[int], epochs: float, data_dir: str | None) -> list[dict]:
    from multimodal import run_seed

    overrides = [f"train.epochs={epochs}"]
    if start != "none":
        encoder = pretrain_dir(start) / "best"
        if not (encoder / "encoder").is_dir():
            raise SystemExit(f"{encoder}: not pretrained yet (run `pretrain` for {start} first)")
        overrides.append(f"model.init_from={encoder}")
    config = ROOT / "configs" / "mm" / "mosi-text.yaml"
    out = RUNS / "mosi-text" / start
    return [run_seed(config, "mosi-text", s, out / f"seed{s}", overrides, data_dir) for s in seeds]


def document(dataset: str, start: str, seeds: list[int], epochs: float, data_dir: str | None) -> list[dict]:
    from common import run_seeds

    # fp32 as the mosi-text runs: bf16 autocast (the config's setting) ran about 5x slower per step on one CPU
    # thread here
    overrides = [f"data.train={dataset}", f"train.epochs={epochs}", "train.bf16=false"]
    if start != "none":
        overrides.append(f"model.init_from={pretrain_dir(start) / 'best'}")
    return run_seeds(ROOT / "configs" / "full-ft.yaml", dataset, seeds, RUNS / dataset / start, overrides,
                     data_dir=data_dir)  # fmt: skip


def document_rows() -> list[dict]:
    """One row per (document dataset, start) with test accuracy and weighted F1 over the seeds run."""
    from sentimentkit.training.experiment import environment

    rows = []
    for dataset in ("sst5", "tweeteval-emotion"):
        for folder in sorted((RUNS / dataset).glob("*")) if (RUNS / dataset).is_dir() else []:
            tests = [json.loads(p.read_text()) for p in sorted(folder.glob("seed*/test_metrics.json"))]
            if not tests:
                continue
            metrics = {k: summary([float(t[k]) for t in tests]) for k in ("accuracy", "f1_weighted", "f1_macro")}
            run = json.loads(next(folder.glob("seed*/experiment.json")).read_text())
            epochs = run["train"]["epochs"]
            rows.append({
                "suite": "skesl", "task": "text-classification", "dataset": dataset, "split": "test",
                "model": f"full-ft from {folder.name}", "backbone": "all-MiniLM-L6-v2", "metrics": metrics,
                "settings": {"max_length": 80, "epochs": epochs, "selection": "validation accuracy",
                             "seeds": len(tests), "start": folder.name},
                "command": command_line(), "env": environment(),
            })  # fmt: skip
    return rows


SCHEMA = {"has0_acc2": "acc2_has0", "non0_acc2": "acc2_non0", "has0_f1": "f1_has0", "non0_f1": "f1_non0",
          "acc7": "acc7", "mae": "mae", "corr": "corr"}  # fmt: skip


def report(epochs: float, data_dir: str | None) -> None:
    from sentimentkit.multimodal.metrics import paired_bootstrap
    from sentimentkit.tasks.multimodal import VALUE, MultimodalRegression
    from sentimentkit.training.experiment import environment

    examples = MultimodalRegression(VALUE).examples("mosi-text", "test", data_dir)  # the order run_seed scored
    truth = np.array([x.label for x in examples], dtype=np.float64)
    starts = sorted(p.name for p in (RUNS / "mosi-text").iterdir() if p.is_dir())
    values: dict[str, dict[int, np.ndarray]] = {}
    rows = []
    for start in starts:
        seeds = sorted(p for p in (RUNS / "mosi-text" / start).glob("seed*") if (p / "test_metrics.json").exists())
        if not seeds:
            continue
        tests = [json.loads((p / "test_metrics.json").read_text()) for p in seeds]
        values[start] = {t["seed"]: np.load(p / "test_values.npy") for t, p in zip(tests, seeds, strict=True)}
        metrics = {schema: summary([float(t["test"][k]) for t in tests]) for k, schema in SCHEMA.items()}
        settings: dict = {"max_length": 50, "epochs": epochs, "selection": "validation mae", "text_encoder": "full",
                          "seeds": [t["seed"] for t in tests], "start": start}  # fmt: skip
        if start != "none":
            settings["pretraining"] = json.loads((pretrain_dir(start) / "pretrain_summary.json").read_text())
            settings["pretraining"].pop("data", None)
        rows.append({
            "suite": "skesl", "task": "multimodal-regression", "dataset": "mosi-text", "split": "test",
            "model": f"text-regressor from {start}", "backbone": "all-MiniLM-L6-v2", "metrics": metrics,
            "settings": settings, "command": command_line(), "env": environment(),
        })  # fmt: skip
    comparisons = []
    for a in [s for s in values if s.startswith("skesl")]:
        for b in [s for s in values if s in ("none", "mlm-" + a.split("-", 1)[1])]:
            common = sorted(set(values[a]) & set(values[b]))
            if not common:
                continue
            pa = np.stack([values[a][s] for s in common])
            pb = np.stack([values[b][s] for s in common])
            for metric in ("mae", "non0_acc2"):
                diff = paired_bootstrap(pa, pb, truth, metric, n=2000, seed=0)
                comparisons.append({"a": a, "b": b, "metric": metric, "seeds": common, **diff})
    # the data-size claim: each larger SKESL pool against the next smaller one (same steps, same fine-tuning)
    sizes = sorted((int(s.split("-")[1]), s) for s in values if s.startswith("skesl-"))
    for (_, small), (_, big) in itertools.pairwise(sizes):
        common = sorted(set(values[big]) & set(values[small]))
        if not common:
            continue
        pa, pb = np.stack([values[big][s] for s in common]), np.stack([values[small][s] for s in common])
        for metric in ("mae", "non0_acc2"):
            diff = paired_bootstrap(pa, pb, truth, metric, n=2000, seed=0)
            comparisons.append({"a": big, "b": small, "metric": metric, "seeds": common, **diff})
    if rows:
        rows[0]["comparisons"] = comparisons
        by_start = {r["settings"]["start"]: r["metrics"]["mae"]["mean"] for r in rows}
        curve = [(n, by_start[s]) for n, s in sizes if s in by_start]
        if len(curve) > 1:  # monotone: every larger pool gives a lower mean test MAE (on the largest pool's row)
            largest = next(r for r in rows if r["settings"]["start"] == sizes[-1][1])
            largest["settings"]["data_size_curve"] = {
                "pool_sentences": [n for n, _ in curve],
                "mae_mean": [round(m, 4) for _, m in curve],
                "monotone": all(b < a for (_, a), (_, b) in itertools.pairwise(curve)),
            }
    rows += document_rows()
    write_rows("skesl", rows, replace={"suite": "skesl"})
    for row in rows:
        m = row["metrics"]
        print(
            row["dataset"], row["model"], {k: (round(v["mean"], 4), round(v["std"], 4), v["n"]) for k, v in m.items()}
        )
    for c in comparisons:
        finite = all(math.isfinite(c[k]) for k in ("mean_diff", "lo", "hi"))
        print(f"{c['a']} - {c['b']} {c['metric']}: {c['mean_diff']:+.4f} [{c['lo']:+.4f}, {c['hi']:+.4f}]" if finite
              else c)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("pretrain", "finetune", "document", "report"))
    parser.add_argument("--arm", choices=("skesl", "mlm"))
    parser.add_argument("--pool", type=int, default=16000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--start", default="none", help="none, or <arm>-<pool> of a finished pretraining run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--dataset", default="sst5", choices=("sst5", "tweeteval-emotion"))
    parser.add_argument("--doc-epochs", type=float, default=1)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    if args.action == "pretrain":
        if args.arm is None:
            parser.error("pretrain needs --arm")
        print(json.dumps(pretrain(args.arm, args.pool, args.steps, args.data_dir), indent=2))
    elif args.action == "finetune":
        rows = finetune(args.start, args.seeds, args.epochs, args.data_dir)
        print(json.dumps([{"seed": r["seed"], "mae": r["test"]["mae"]} for r in rows]))
    elif args.action == "document":
        rows = document(args.dataset, args.start, args.seeds, args.doc_epochs, args.data_dir)
        print(json.dumps([round(r["accuracy"], 4) for r in rows]))
    else:
        report(args.epochs, args.data_dir)


if __name__ == "__main__":
    main()
