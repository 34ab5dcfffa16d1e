"""Gated-expert MoE against full fine-tuning with the same tuning budget (issue 17).

    python benchmarks/moe_budget.py queue                      # everything below, in order, resumable
    python benchmarks/moe_budget.py queue --datasets sst5      # one dataset's queue (two can run side by side)
    python benchmarks/moe_budget.py queue --datasets sst5 --arms full-ft moe   # ... or one dataset's arms split
    python benchmarks/moe_budget.py tune --dataset sst5 --arm moe --trials 16
    python benchmarks/moe_budget.py seeds --dataset sst5 --arm moe --seeds 1 2 3 4 5
    python benchmarks/moe_budget.py report                     # rows, paired CIs, tuning curves

Arms: `full-ft`, `moe`, `moe-ffn`, `moe-split` (configs/<arm>.yaml) on SST-5 and TweetEval emotion. Every arm
gets one Optuna study (`sentimentkit tune`: TPE sampler, median pruning after STARTUP trials and never within a
trial's first epoch, selection on the validation split) over a space of the same size, four parameters, with the
same trial budget. The learning rate range is shared; full fine-tuning searches three general knobs, each MoE arm
its own knobs instead (the load-balancing loss weight, the number of experts, which blocks get experts), so the
MoE-specific choices are paid for inside the arm's budget. Then the best configuration of each arm trains with 5
seeds and is scored once on test. Every run is float32 on one thread, whatever the shipped configs say, so that a
study moved between machines (with or without native bf16) trains every arm and trial at one precision.

The queue interleaves: trial k of every arm and dataset before trial k+1, then the seeds, so a queue stopped
at any point leaves comparable partial studies. Interrupted trials resume from their checkpoints (see
sentimentkit/training/hpo.py), seeds from theirs (the trainer). Run folders: runs/moe-budget/<dataset>/<arm>/
{search,seed<n>}.

Run folders are not committed, so each study's ended trials (results/moe_budget/kept/<dataset>-<arm>-trials.json:
parameters, validation scores, times) and each seed's test predictions (...-seed<n>.json) are: in a new checkout the
queue continues each study from its committed trials (only unfinished trials train again) and skips scored seeds,
and the report reads only these records.

Report (results/moe_budget.json, and results/moe_budget/*.png): per dataset and arm, test accuracy and macro-F1
(TweetEval's own metric), mean and std over the seeds; each MoE arm minus full-ft in accuracy with a paired
bootstrap 95 % CI (`comparisons`: 10,000 resamples of the test sentences, shared by both arms, and of each arm's
seeds; `sentences_only` is the CI with the seeds held fixed), the mean validation accuracy difference of the same
seed numbers, and `wins` (ahead on validation and the test CI above zero: the issue's bar for shipping an arm); the
tuning curve (`tuning_curve`: best validation score of a completed trial after n trials; a pruned trial's score is
a partly trained model's); compute (trials
completed and pruned, the last evaluated step summed over trials, and training seconds of the search and of the
seeds: wall time on a shared machine, so the steps are the steadier measure; a seed record marked
`seconds_partial` was resumed before the trainer summed training time over resumes, and its seconds cover only the
call that finished it).
Expert specialisation of the best MoE run: benchmarks/moe_routing.py on its seed-1 model.

Why no pruning in the first epoch (PRUNE_AFTER_EPOCHS): the studies first pruned from the first evaluation on
(step 134). On SST-5 that is a sixth of a trial's 801 steps, where a configuration still in or just out of its
learning-rate warmup scores low whatever it would reach: full-ft's best trial (warmup 0.14) stood below the median
there, and every one of its last six trials, drawn near that best configuration, was pruned at step 134. Full-ft
is the only arm that searches the warmup, so the rule was not neutral between the arms. On TweetEval emotion an
epoch is 102 steps, so every decision there was already at or after the first epoch and those studies stand as
they are. SST-5's studies keep each arm's trials up to its first one pruned inside the first epoch (the same
trials, values and pruning decisions the rule gives, trained again would be identical) and continue from there;
the superseded records are in results/moe_budget/superseded/.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml
from common import command_line, summary, write_rows

from sentimentkit.training.experiment import environment

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "moe-budget"
FIGURES = ROOT / "benchmarks" / "results" / "moe_budget"
KEPT = FIGURES / "kept"  # committed: each study's ended trials and each seed's test predictions
ARMS = ("full-ft", "moe", "moe-ffn", "moe-split")
DATASETS = ("sst5", "tweeteval-emotion")
TRIALS = 16
SEEDS = (1, 2, 3, 4, 5)
STARTUP = 4  # trials that run to the end before the median pruner starts
PRUNE_AFTER_EPOCHS = 1.0  # no trial is judged before it has seen the training data once (see the docstring)
LR = {"type": "float", "low": 2.0e-5, "high": 3.0e-4, "log": True}
SPACES = {
    "full-ft": {
        "train.lr": LR,
        "train.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
        "train.weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
        "model.dropout": {"type": "float", "low": 0.0, "high": 0.3},
    },
    "moe": {
        "train.lr": LR,
        "model.aux_loss_weight": {"type": "float", "low": 1.0e-3, "high": 1.0e-1, "log": True},
        "model.num_experts": {"type": "categorical", "choices": [2, 4, 8]},
        "model.layers": {"type": "categorical", "choices": [[-1], [-2, -1], [-3, -2, -1]]},
    },
}
SPACES["moe-ffn"] = SPACES["moe-split"] = SPACES["moe"]
BOOTSTRAP = 10_000


def base_config(arm: str, dataset: str) -> dict:
    """The arm's shipped study config on `dataset`, float32, with its search section."""
    raw = yaml.safe_load((ROOT / "configs" / f"{arm}.yaml").read_text())
    raw["data"]["train"] = dataset
    raw["train"]["bf16"] = False
    raw["output"] = str(folder(dataset, arm) / "seed{seed}")
    raw["search"] = {
        "space": SPACES[arm],
        "pruner": "median",
        "startup_trials": STARTUP,
        "prune_after_epochs": PRUNE_AFTER_EPOCHS,
        "seed": 0,
    }
    return raw


def folder(dataset: str, arm: str) -> Path:
    return RUNS / dataset / arm


def kept(dataset: str, arm: str, what: str) -> Path:
    """The committed record of a study's ended trials (what="trials") or of one seed's test run ("seed<n>")."""
    return KEPT / f"{dataset}-{arm}-{what}.json"


def tune(dataset: str, arm: str, trials: int) -> dict:
    """Run the arm's study to `trials` ended trials. A study whose run folder is gone (another machine or session)
    starts from its committed trials, so only the trials that were never finished train again; after each call the
    ended trials are committed again."""
    from sentimentkit.training.hpo import export_trials, import_trials
    from sentimentkit.training.hpo import tune as search

    search_dir = folder(dataset, arm) / "search"
    record = kept(dataset, arm, "trials")
    if not (search_dir / "study.db").exists() and record.exists():
        import_trials(search_dir, json.loads(record.read_text()), "maximize")  # validation accuracy
    result = search(base_config(arm, dataset), trials, search_dir)
    KEPT.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(export_trials(search_dir), indent=1) + "\n")
    return result


def best_config(dataset: str, arm: str) -> dict:
    path = folder(dataset, arm) / "search" / "best.yaml"
    if not path.exists():
        raise SystemExit(f"{dataset} {arm}: no finished search ({path}); run tune first")
    return yaml.safe_load(path.read_text())


def seeds(dataset: str, arm: str, seed_list: list[int]) -> None:
    """Train the arm's best configuration once per seed (resuming), then keep each seed's test predictions."""
    from sentimentkit.config import ExperimentConfig, apply_overrides, from_dict
    from sentimentkit.training.experiment import train

    raw = best_config(dataset, arm)
    for seed in seed_list:
        record = kept(dataset, arm, f"seed{seed}")
        if record.exists():
            continue  # scored in an earlier session: its test predictions are committed
        out = folder(dataset, arm) / f"seed{seed}"
        config = from_dict(ExperimentConfig, apply_overrides(raw, [f"train.seed={seed}", f"output={out}"]))
        result = train(config, progress=False)
        recorded = {**raw, "output": os.path.relpath(raw["output"], ROOT)}  # no machine paths
        scored = {**predictions(out), "seconds": result.seconds, "config": recorded, "validation": result.best_metrics}
        record.write_text(json.dumps(scored) + "\n")
        print(f"{dataset} {arm} seed {seed}: test accuracy {scored['accuracy']:.4f}", flush=True)


def predictions(run: Path) -> dict:
    """Test predictions of a run's selected model, cached in the run folder: {gold, predicted, accuracy}."""
    cache = run / "test_predictions.json"
    best = run / "best" / "config.json"
    if cache.exists() and cache.stat().st_mtime >= best.stat().st_mtime:
        return json.loads(cache.read_text())
    from sentimentkit.hub import read_manifest
    from sentimentkit.models.base import Runtime
    from sentimentkit.tasks import TASKS
    from sentimentkit.tasks.base import forward_batches, gather_logits

    manifest = read_manifest(run / "best")
    task, model = TASKS.get(manifest.task).from_manifest(manifest, Runtime("transformers"))
    dataset = json.loads((run / "experiment.json").read_text())["data"]["train"]
    items = task.encode(task.examples(dataset, "test", None))
    logits = gather_logits(list(forward_batches(model, task, items, 64)), len(items))
    gold = [int(x.label) for x in items]
    predicted = logits.argmax(-1).tolist()
    out = {"gold": gold, "predicted": predicted, "accuracy": float(np.mean(np.array(gold) == np.array(predicted)))}
    cache.write_text(json.dumps(out) + "\n")
    return out


def paired_bootstrap(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> dict:
    """Mean accuracy difference a - b over (seeds, sentences) correctness matrices and its 95 % CI.

    Each resample draws the test sentences with replacement (the same draw for both arms: the pairing) and each
    arm's seeds with replacement, independently (seed i of one arm and of the other share a number, not a model),
    so the interval carries the training-seed spread as well as the test-set one. `ci95_sentences` holds the
    seeds fixed and resamples sentences only: the narrower interval an earlier version reported."""
    diff = a.mean() - b.mean()
    n, sa, sb = a.shape[1], len(a), len(b)
    fixed = a.mean(axis=0) - b.mean(axis=0)  # per sentence, averaged over each arm's seeds
    both, sentences = np.empty(BOOTSTRAP), np.empty(BOOTSTRAP)
    for i in range(BOOTSTRAP):
        index = rng.integers(0, n, n)
        wa = np.bincount(rng.integers(0, sa, sa), minlength=sa) / sa
        wb = np.bincount(rng.integers(0, sb, sb), minlength=sb) / sb
        both[i] = (wa @ a[:, index]).mean() - (wb @ b[:, index]).mean()
        sentences[i] = fixed[index].mean()
    return {
        "difference": float(diff),
        "ci95": [float(x) for x in np.percentile(both, [2.5, 97.5])],
        "ci95_sentences": [float(x) for x in np.percentile(sentences, [2.5, 97.5])],
        "resamples": BOOTSTRAP,
    }


def correct(record: dict) -> np.ndarray:
    """A seed's test sentences as 1.0 (predicted its gold label) or 0.0."""
    return (np.array(record["gold"]) == np.array(record["predicted"])).astype(float)


def macro_f1(gold: list[int], predicted: list[int]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(gold, predicted, average="macro"))


def study_summary(dataset: str, arm: str) -> dict | None:
    """Trials, their states and the tuning curve of one arm's study, from its committed trials."""
    record = kept(dataset, arm, "trials")
    if not record.exists():
        return None
    ended = json.loads(record.read_text())  # in trial order
    curve, best = [], -np.inf
    for t in ended:  # a pruned trial's score is a partly trained model's: only completed trials can set the best
        if t["state"] == "COMPLETE":
            best = max(best, t["value"])
        curve.append(float(best) if best > -np.inf else None)
    seconds = sum(
        (datetime.fromisoformat(t["datetime_complete"]) - datetime.fromisoformat(t["datetime_start"])).total_seconds()
        for t in ended
        if t["datetime_start"] and t["datetime_complete"]
    )
    steps = sum(max(map(int, t["intermediate_values"]), default=0) for t in ended)
    return {
        "completed": sum(t["state"] == "COMPLETE" for t in ended),
        "pruned": sum(t["state"] == "PRUNED" for t in ended),
        "best_validation_curve": curve,
        "search_seconds": seconds,
        "search_steps": steps,
        "best_params": best_params(arm, ended),
    }


def best_params(arm: str, ended: list[dict]) -> dict | None:
    """The searched values of the best completed trial, as config values (list choices back from their JSON)."""
    complete = [t for t in ended if t["state"] == "COMPLETE"]
    if not complete:
        return None
    from sentimentkit.training.hpo import _decode, _parse_space

    best = max(complete, key=lambda t: t["value"])
    return _decode(best["params"], _parse_space(SPACES[arm]))


def report() -> None:
    rows = []
    FIGURES.mkdir(parents=True, exist_ok=True)
    for dataset in DATASETS:
        studies = {arm: study_summary(dataset, arm) for arm in ARMS}
        scored = {}  # arm -> {seed: record}
        for arm in ARMS:
            records = {s: kept(dataset, arm, f"seed{s}") for s in SEEDS}
            scored[arm] = {s: json.loads(r.read_text()) for s, r in records.items() if r.exists()}
        for arm in ARMS:
            if studies[arm] is None:
                continue
            metrics = {}
            if scored[arm]:
                records = list(scored[arm].values())
                metrics["accuracy"] = summary([correct(p).mean() for p in records])
                metrics["f1_macro"] = summary([macro_f1(p["gold"], p["predicted"]) for p in records])
                metrics["validation_accuracy"] = summary([p["validation"]["accuracy"] for p in records])
            study = dict(studies[arm])
            curve = study.pop("best_validation_curve")
            settings = {
                "trials_budget": TRIALS,
                "startup_trials": STARTUP,
                "prune_after_epochs": PRUNE_AFTER_EPOCHS,
                "search": "tpe + median pruning",
                "seeds_planned": len(SEEDS),
                **study,
            }
            comparisons = []
            paired = sorted(scored[arm].keys() & scored["full-ft"].keys())  # seed i with seed i
            if arm != "full-ft" and paired:
                a = [scored[arm][s] for s in paired]
                b = [scored["full-ft"][s] for s in paired]
                # a generator per comparison, so one comparison's CI does not move when another's seeds change
                rng = np.random.default_rng([17, DATASETS.index(dataset), ARMS.index(arm)])
                d = paired_bootstrap(np.array([correct(p) for p in a]), np.array([correct(p) for p in b]), rng)
                validation = float(np.mean([x["validation"]["accuracy"] - y["validation"]["accuracy"]
                                            for x, y in zip(a, b, strict=True)]))  # fmt: skip
                comparisons.append(
                    {
                        "a": arm,
                        "b": "full-ft",
                        "metric": "accuracy",
                        "seeds": len(paired),
                        "mean_diff": d["difference"],
                        "lo": d["ci95"][0],
                        "hi": d["ci95"][1],
                        "sentences_only": d["ci95_sentences"],  # seeds held fixed
                        "validation_mean_diff": validation,
                        # the issue's bar for shipping an arm: ahead on validation, and on test beyond the CI
                        "wins": bool(validation > 0 and d["ci95"][0] > 0),
                    }
                )
            settings["seed_seconds"] = sum(r["seconds"] for r in scored[arm].values())
            # seeds resumed before the trainer summed its time over resumes: their seconds are a lower bound
            settings["seed_seconds_partial"] = sum(bool(r.get("seconds_partial")) for r in scored[arm].values())
            rows.append(
                {
                    "suite": "moe_budget",
                    "task": "sentiment-5" if dataset == "sst5" else "emotion-4",
                    "dataset": dataset,
                    "split": "test",
                    "model": arm,
                    "backbone": "all-MiniLM-L6-v2",
                    "metrics": metrics,
                    "settings": settings,
                    "comparisons": comparisons,
                    "tuning_curve": curve,
                    "command": command_line(),
                    "env": environment(),
                }
            )
            line = f"{dataset} {arm}: {study['completed']} completed + {study['pruned']} pruned trials"
            if "accuracy" in metrics:
                acc = metrics["accuracy"]
                f1 = metrics["f1_macro"]
                line += f", test accuracy {acc['mean']:.4f} +- {acc['std']:.4f} (macro-F1 {f1['mean']:.4f} +- "
                line += f"{f1['std']:.4f}) over {acc['n']} seeds"
            for c in comparisons:
                line += f", minus full-ft {c['mean_diff']:+.4f} [95 % CI {c['lo']:+.4f}, {c['hi']:+.4f}]"
                line += f" (validation {c['validation_mean_diff']:+.4f}{', wins' if c['wins'] else ''})"
            print(line)
        plot_curves(dataset, studies)
    if rows:  # every dataset's rows are rebuilt from the records: they replace all older rows of this suite
        print(write_rows("moe_budget", rows, replace={"suite": "moe_budget"}))


def plot_curves(dataset: str, studies: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for arm, study in studies.items():
        if study and study["best_validation_curve"]:
            curve = study["best_validation_curve"]
            ax.plot(range(1, len(curve) + 1), curve, marker="o", ms=3, label=arm)
    ax.set_xlabel("trials (completed or pruned)")
    ax.set_ylabel("best completed trial, validation accuracy")
    ax.set_title(f"tuning curves, {dataset}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / f"tuning_{dataset}.png", dpi=120)
    plt.close(fig)


def queue(
    trials: int, seed_list: list[int], datasets: tuple[str, ...] | None = None, arms: tuple[str, ...] | None = None
) -> None:
    """Every study to `trials`, one trial per arm and dataset per round, then every arm's seeds.

    With two cores, two queues can run side by side as long as they share no (dataset, arm): one per dataset, or
    one dataset's arms split between them; each touches only its own studies' folders."""
    datasets = DATASETS if datasets is None else datasets
    arms = ARMS if arms is None else arms
    for n in range(1, trials + 1):
        for dataset in datasets:
            for arm in arms:
                start = time.time()
                tune(dataset, arm, n)
                print(f"{dataset} {arm}: {n} trials ended ({time.time() - start:.0f} s this call)", flush=True)
    for seed in seed_list:
        for dataset in datasets:
            for arm in arms:
                seeds(dataset, arm, [seed])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("queue")
    q.add_argument("--trials", type=int, default=TRIALS)
    q.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    q.add_argument("--datasets", choices=DATASETS, nargs="+", default=list(DATASETS))
    q.add_argument("--arms", choices=ARMS, nargs="+", default=list(ARMS))
    t = sub.add_parser("tune")
    t.add_argument("--dataset", choices=DATASETS, required=True)
    t.add_argument("--arm", choices=ARMS, required=True)
    t.add_argument("--trials", type=int, default=TRIALS)
    s = sub.add_parser("seeds")
    s.add_argument("--dataset", choices=DATASETS, required=True)
    s.add_argument("--arm", choices=ARMS, required=True)
    s.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    sub.add_parser("report")
    args = parser.parse_args()
    if args.command == "queue":
        queue(args.trials, args.seeds, tuple(args.datasets), tuple(args.arms))
    elif args.command == "tune":
        print(json.dumps({k: v for k, v in tune(args.dataset, args.arm, args.trials).items() if k != "trials"}))
    elif args.command == "seeds":
        seeds(args.dataset, args.arm, args.seeds)
    else:
        report()


if __name__ == "__main__":
    main()
