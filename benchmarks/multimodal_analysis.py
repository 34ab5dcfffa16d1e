"""Analyses of trained multimodal runs: paired comparisons, robustness (H2), nuisance sensitivity, eta sweep (H1).

    python benchmarks/multimodal_analysis.py compare --dataset synmosi --models almt tfn lmf ... --reference almt
    python benchmarks/multimodal_analysis.py robust --dataset synmosi --models almt tfn ... --text-only text-regressor
    python benchmarks/multimodal_analysis.py sensitivity --dataset synmosi --models almt almt-no-ahl msrn mult
    python benchmarks/multimodal_analysis.py eta-sweep --models almt almt-no-ahl almt-shuffled-guidance --etas 0 1 2 4

Runs are laid out as `benchmarks/multimodal.py` writes them: `<runs>/<dataset with ':' and '/' as '_'>/<model>/
seed<n>/` holding `best/` (the model selected on validation), `test_values.npy` (per-clip test predictions in the
order of the task's test examples) and `test_metrics.json`. Where a run folder is gone, `compare` reads the
predictions from the seed's committed record (results/multimodal_seeds/); the other analyses need the model itself.
Every subcommand only READS runs: it lists the missing ones with the command that trains them, and never trains.
Robustness sweeps and sensitivity predictions are cached in the run folder (`robust_<protocol>.json`,
`predictions_<variant>.json`), so a rerun resumes.

Statistics (MULTIMODAL.md 6.3, 7.4 items 8, 10, 11 and 7.5): metrics are MMSA's (`multimodal/metrics.py`), means
over training seeds (and mask seeds); every CI is a 95% percentile bootstrap over test clips, the same clip draw
for every seed and every model compared, seeds averaged inside each draw. Rows go to
results/multimodal_analysis.json; SynMOSI conclusions hold under the generator, not on real MOSI features.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, command_line, summary, write_rows
from multimodal import SCHEMA, SEEDS, record_path

from sentimentkit.multimodal.metrics import (
    LOWER_IS_BETTER,
    MMSA_KEYS,
    mmsa_regression,
    mmsa_regression_rows,
    paired_bootstrap,
)

SUITE = "multimodal_analysis"
BATCH = 64
COMPARED = ("mae", "non0_acc2", "acc7")  # the paired comparisons of `compare`
GAIN_METRICS = ("mae", "non0_acc2")  # multimodal gain retention and the H2 verdict
RECORDS = SEEDS  # the committed per-seed records (benchmarks/multimodal.py), read where a run folder is gone
RETENTION_TARGET = 0.8  # the issue's target: >= 80 % of the gain kept at 50 % A/V missing (av-frames 0.5)


# --- runs on disk ---------------------------------------------------------------------------------------------


def run_folder(runs: Path, dataset: str, model: str, seed: int) -> Path:
    """Where `benchmarks/multimodal.py` keeps one seed's run of `model` trained on `dataset`."""
    return Path(runs) / dataset.replace(":", "_").replace("/", "_") / model / f"seed{seed}"


def find_runs(
    runs: Path, dataset: str, models: Sequence[str], seeds: Sequence[int], needs: str
) -> tuple[dict[str, list[int]], list[tuple[str, int, Path]]]:
    """({model: seeds whose run folder holds `needs`}, [(model, seed, missing path), ...])."""
    present: dict[str, list[int]] = {m: [] for m in models}
    missing = []
    for model in models:
        for seed in seeds:
            path = run_folder(runs, dataset, model, seed) / needs
            if path.exists() or (needs == "test_values.npy" and recorded_values(dataset, model, seed) is not None):
                present[model].append(seed)
            else:
                missing.append((model, seed, path))
    return present, missing


def shared_seeds(present: Mapping[str, Sequence[int]]) -> list[int]:
    """The seeds present for every model (sorted); empty when one model has none."""
    sets = [set(s) for s in present.values()]
    return sorted(set.intersection(*sets)) if sets else []


def missing_report(missing: Sequence[tuple[str, int, Path]], dataset: str) -> list[str]:
    """Readable lines naming each missing run and the command that trains it (one per model)."""
    if not missing:
        return []
    lines = [f"missing {len(missing)} run(s) (skipped; this script never trains):"]
    by_model: dict[str, list[int]] = {}
    for model, seed, path in missing:
        lines.append(f"  {path}")
        by_model.setdefault(model, []).append(seed)
    for model, seeds in by_model.items():
        lines.append(
            f"  train: python benchmarks/multimodal.py --model {model} --dataset {dataset} "
            f"--seeds {' '.join(map(str, seeds))}"
        )
    return lines


def say(lines: Sequence[str]) -> None:
    """Print lines, if there are any."""
    if lines:
        print("\n".join(lines), flush=True)


def load_run(folder: Path) -> tuple[Any, Any]:
    """(task, module) of the model selected on validation in a run folder (`best/`)."""
    from sentimentkit.hub import read_manifest
    from sentimentkit.models.base import Runtime
    from sentimentkit.tasks.base import TASKS

    manifest = read_manifest(folder / "best")
    return TASKS.get(manifest.task).from_manifest(manifest, Runtime("transformers"))


def load_test_clips(dataset: str, data_dir: str | None, **synmosi_changes: float) -> list:
    """The test clips of `dataset` in the order the runs predicted them (SynMOSI with `parts` and any changes)."""
    from sentimentkit.multimodal import synmosi
    from sentimentkit.tasks.multimodal import MultimodalRegression

    if synmosi.is_synmosi(dataset):
        spec = {**synmosi.parse_spec(dataset), **synmosi_changes}
        return synmosi.generate("test", data_dir=data_dir, with_parts=True, **spec)
    if synmosi_changes:
        raise SystemExit(f"{dataset}: nuisance parts and eta changes need a SynMOSI dataset (synmosi[:key=value])")
    return MultimodalRegression().examples(dataset, "test", data_dir)


def recorded_values(dataset: str, model: str, seed: int) -> np.ndarray | None:
    """A seed's per-clip test predictions from its committed record (benchmarks/multimodal.py), if it holds them."""
    path = record_path(dataset, model, seed, RECORDS)
    if not path.exists():
        return None
    values = json.loads(path.read_text()).get("test_values")
    return None if values is None else np.asarray(values, dtype=np.float64)


def load_values(folder: Path, clips: int, record: tuple[str, str, int] | None = None) -> np.ndarray:
    """A run's per-clip test predictions (clips,), checked against the number of test clips.

    Read from the run folder's test_values.npy, else from the committed seed record `record` = (dataset, model, seed).
    """
    path = folder / "test_values.npy"
    if not path.exists() and record is not None and (kept := recorded_values(*record)) is not None:
        path, values = record_path(*record, RECORDS), kept
    else:
        values = np.load(path).astype(np.float64).reshape(-1)
    if values.size != clips:
        raise SystemExit(f"{path}: {values.size} predictions for {clips} test clips; score it again on this dataset")
    return values


def cached(path: Path, meta: Mapping[str, Any], compute: Callable[[], Any]) -> Any:
    """`compute()`'s JSON-ready result, saved at `path` with `meta`; reused when the meta matches and the file is
    newer than the model it came from (`best/model.safetensors` beside it)."""
    weights = path.parent / "best" / "model.safetensors"
    if path.exists() and (not weights.exists() or path.stat().st_mtime >= weights.stat().st_mtime):
        saved = json.loads(path.read_text())
        if saved.get("meta") == json.loads(json.dumps(meta)):
            return saved["value"]
    value = compute()
    path.write_text(json.dumps({"meta": meta, "value": value}) + "\n")
    return value


# --- statistics (pure) ----------------------------------------------------------------------------------------


def signed_gain(metric: str, value: float | np.ndarray, floor: float | np.ndarray) -> float | np.ndarray:
    """How much better `value` is than `floor`, positive when better (MAE: floor - value; accuracies: value - floor)."""
    return floor - value if metric in LOWER_IS_BETTER else value - floor


def verdict(metric: str, lo: float, hi: float) -> str:
    """The verdict on a CI of (reference - model) in `metric`'s units: which one is better with the CI excluding 0."""
    better_lo, better_hi = sorted((signed_gain(metric, lo, 0.0), signed_gain(metric, hi, 0.0)))
    if better_lo > 0:
        return "reference better"
    if better_hi < 0:
        return "reference worse"
    return "no clear difference"


def clip_draws(n_clips: int, n_boot: int, seed: int) -> list[np.ndarray]:
    """Bootstrap draws of clip indices in chunks of at most 250 rows, [(b, N), ...] (as `robustness.summarise`
    draws them); pass the same list to every model of a comparison, so that the draws are paired."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_clips, (min(250, n_boot - s), n_clips)) for s in range(0, n_boot, 250)]


def bootstrap_metrics(preds: np.ndarray, truth: np.ndarray, draws: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Every MMSA metric on each clip draw, averaged over runs: preds (runs, N) -> {metric: (B,)}."""
    preds = np.atleast_2d(preds)
    chunks = []
    for index in draws:
        per_run = [mmsa_regression_rows(p[index], truth[index]) for p in preds]
        chunks.append({k: np.mean([m[k] for m in per_run], axis=0) for k in MMSA_KEYS})
    return {k: np.concatenate([c[k] for c in chunks]) if chunks else np.zeros(0) for k in MMSA_KEYS}


def point_metrics(preds: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Every MMSA metric on all clips, averaged over runs: preds (runs, N)."""
    per_run = [mmsa_regression(p, truth) for p in np.atleast_2d(preds)]
    return {k: float(np.mean([m[k] for m in per_run])) for k in MMSA_KEYS}


def percentile_ci(draws: np.ndarray) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of the finite draws (NaN when there are none)."""
    finite = np.asarray(draws, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return math.nan, math.nan
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return float(lo), float(hi)


Estimate = tuple[float, np.ndarray]  # (value on all clips, value on each bootstrap draw (B,))


def retention(model_r: Estimate, text_r: Estimate, model_0: Estimate, text_0: Estimate, metric: str) -> dict:
    """G(r) / G(0), G = the model's signed gain over the text-only floor (spec 7.4 item 8), from paired estimates
    of the metric (the same clip draws for all four). retention is NaN when G(0) <= 0 (no gain to keep); the CI
    uses the draws whose G(0) > 0 (NaN too when G(0) <= 0 on all clips)."""
    g_r, g_0 = signed_gain(metric, model_r[0], text_r[0]), signed_gain(metric, model_0[0], text_0[0])
    draws_r, draws_0 = signed_gain(metric, model_r[1], text_r[1]), signed_gain(metric, model_0[1], text_0[1])
    if g_0 <= 0:
        return {"retention": math.nan, "lo": math.nan, "hi": math.nan, "gain_r": g_r, "gain_0": g_0}
    ratios = np.divide(draws_r, draws_0, out=np.full(draws_r.shape, np.nan), where=draws_0 > 0)
    lo, hi = percentile_ci(ratios)
    return {"retention": g_r / g_0, "lo": lo, "hi": hi, "gain_r": g_r, "gain_0": g_0}


def gain_retention(
    model_r: np.ndarray,
    text_r: np.ndarray,
    model_0: np.ndarray,
    text_0: np.ndarray,
    truth: np.ndarray,
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """`retention` from (runs, clips) predictions of the model and the text-only floor at rate r and clean."""
    draws = clip_draws(truth.size, n_boot, seed)

    def estimate(preds: np.ndarray) -> Estimate:
        return point_metrics(preds, truth)[metric], bootstrap_metrics(preds, truth, draws)[metric]

    return retention(estimate(model_r), estimate(text_r), estimate(model_0), estimate(text_0), metric)


def clip_mean_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean of per-clip values (N,) with a bootstrap 95% CI over clips."""
    draws = [values[index].mean(axis=1) for index in clip_draws(values.size, n_boot, seed)]
    lo, hi = percentile_ci(np.concatenate(draws)) if draws else (math.nan, math.nan)
    return {"mean": float(values.mean()), "lo": lo, "hi": hi}


def sensitivity_per_clip(base: np.ndarray, altered: np.ndarray) -> np.ndarray:
    """|f(x) - f(x')| per clip, averaged over seeds: base and altered (seeds, clips) -> (clips,)."""
    return np.abs(np.atleast_2d(base) - np.atleast_2d(altered)).mean(axis=0)


def least_squares_slope(x: Sequence[float], y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y over x: y (E,) -> a scalar array, or (B, E) -> (B,)."""
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean()
    y = np.asarray(y, dtype=np.float64)
    return ((y - y.mean(axis=-1, keepdims=True)) @ xc) / (xc @ xc)


def improvement_draws(
    reference: Sequence[np.ndarray], other: Sequence[np.ndarray], truth: np.ndarray, metric: str, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's signed gain over `other` at each of E settings (the same test clips at each): reference[e]
    and other[e] are (seeds, clips). Returns (point (E,), draws (B, E)); one clip draw serves every setting, so the
    draws also carry the slope's uncertainty."""
    draws = clip_draws(truth.size, n_boot, seed)
    point, columns = [], []
    for r, o in zip(reference, other, strict=True):
        point.append(signed_gain(metric, point_metrics(r, truth)[metric], point_metrics(o, truth)[metric]))
        columns.append(
            signed_gain(metric, bootstrap_metrics(r, truth, draws)[metric], bootstrap_metrics(o, truth, draws)[metric])
        )
    return np.asarray(point, dtype=np.float64), np.stack(columns, axis=1)


def slope_ci(etas: Sequence[float], point: np.ndarray, draws: np.ndarray) -> dict[str, float]:
    """The least-squares slope of `point` over `etas`, with the 2.5/97.5 percentiles of the draws' slopes."""
    lo, hi = percentile_ci(least_squares_slope(etas, draws)) if len(draws) else (math.nan, math.nan)
    return {"slope": float(least_squares_slope(etas, point)), "lo": lo, "hi": hi}


def h2_check(
    summaries: Mapping[str, Sequence[Mapping[str, Any]]],
    reference: str,
    text_only: str,
    baselines: Sequence[str],
    metric: str,
) -> dict[str, dict[str, Any]]:
    """Spec 7.4 item 8 per protocol: the reference's M(r) is at least each baseline's M(r) at every rate (means),
    and at least the text-only floor minus its CI (MAE: at most the floor's upper bound).

    summaries: {model: `robustness.summarise` rows}. Returns {protocol: {"holds", "behind_baselines":
    [(baseline, rate, reference M, baseline M)], "below_floor": [(rate, reference M, floor bound)]}}."""
    lookup = {(m, r["protocol"], r["rate"]): r for m, rows in summaries.items() for r in rows}
    out: dict[str, dict[str, Any]] = {}
    for row in summaries[reference]:
        if row["rate"] == "mean":
            continue
        protocol, rate, value = row["protocol"], row["rate"], row[metric]
        result = out.setdefault(protocol, {"holds": True, "behind_baselines": [], "below_floor": []})
        for baseline in baselines:
            other = lookup.get((baseline, protocol, rate))
            if other is not None and signed_gain(metric, value, other[metric]) < 0:
                result["behind_baselines"].append((baseline, rate, value, other[metric]))
        floor = lookup.get((text_only, protocol, rate))
        if floor is not None:
            side = "hi" if metric in LOWER_IS_BETTER else "lo"
            bound = floor.get(f"{metric}_{side}", floor[metric])
            if signed_gain(metric, value, bound) < 0:
                result["below_floor"].append((rate, value, bound))
        result["holds"] = not result["behind_baselines"] and not result["below_floor"]
    return out


def overall(holds: Sequence[bool]) -> str:
    """ "holds", "holds partly" or "fails" over a claim's parts."""
    if holds and all(holds):
        return "holds"
    return "holds partly" if any(holds) else "fails"


# --- result rows ------------------------------------------------------------------------------------------------


def ci_metric(mean: float, lo: float, hi: float, values: Sequence[float] | None = None, note: str = "") -> dict:
    """A metric entry of the result schema that also carries a 95% CI (lo, hi)."""
    entry = summary([float(v) for v in values]) if values else summary([float(mean)])
    entry.update(mean=float(mean), lo=_finite(lo), hi=_finite(hi))
    if note:
        entry["ci"] = note
    return entry


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def row(task: str, dataset: str, model: str, metrics: dict, settings: dict, **extra: Any) -> dict:
    from sentimentkit.training.experiment import environment

    settings = dict(settings)
    if dataset.startswith("synmosi"):
        from sentimentkit.multimodal.synmosi import GENERATOR_VERSION

        settings["generator"] = f"SynMOSI {GENERATOR_VERSION}: conclusions hold under the generator"
    return {
        "suite": SUITE,
        "task": task,
        "dataset": dataset,
        "split": "test",
        "model": model,
        "backbone": "all-MiniLM-L6-v2",
        "metrics": metrics,
        "settings": settings,
        **extra,
        "command": command_line(),
        "env": environment(),
    }


def seed_metrics(preds: np.ndarray, truth: np.ndarray) -> dict[str, dict]:
    """Per seed MMSA metrics -> {schema name: summary over seeds}. preds (seeds, clips)."""
    per_seed = [mmsa_regression(p, truth) for p in preds]
    return {schema: summary([m[key] for m in per_seed]) for key, schema in SCHEMA.items()}


def fmt(value: float | None, digits: int = 4) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


# --- compare ----------------------------------------------------------------------------------------------------


def compare(args: argparse.Namespace) -> list[dict]:
    """MMSA metrics per model and paired bootstrap (reference - model), on all clips and on the consistent and
    conflict subsets (spec 7.4 item 11)."""
    models = list(dict.fromkeys([args.reference, *args.models]))
    present, missing = find_runs(args.runs, args.dataset, models, args.seeds, "test_values.npy")
    say(missing_report(missing, args.dataset))
    absent = [m for m in models if not present[m]]
    if args.reference in absent:
        raise SystemExit(f"{args.reference}: the reference has no test predictions; nothing to compare against")
    models = [m for m in models if m not in absent]
    seeds = shared_seeds({m: present[m] for m in models})
    if absent:
        print(f"left out (no run at all): {absent}")
    if not seeds:
        raise SystemExit(f"no seed has test predictions for every one of {models}: nothing to compare")
    examples = load_test_clips(args.dataset, args.data_dir)
    truth = np.array([x.label for x in examples], dtype=np.float64)
    conflict = np.array([x.meta.get("conflict", "none") != "none" for x in examples])
    preds = {
        m: np.stack(
            [load_values(run_folder(args.runs, args.dataset, m, s), truth.size, (args.dataset, m, s)) for s in seeds]
        )
        for m in models
    }
    subsets = {"all": np.ones_like(conflict), "consistent": ~conflict, "conflict": conflict}
    rows = []
    for subset, keep in subsets.items():
        if not keep.any() or (subset != "all" and keep.all()):
            continue
        print(f"\n{args.dataset} test, {subset} clips (n={int(keep.sum())}), seeds {seeds}; reference {args.reference}")
        print(f"{'model':24s} {'MAE':>8s} {'non0 acc2':>10s} {'acc7':>8s}   reference - model [95% CI]")
        for model in models:
            metrics = seed_metrics(preds[model][:, keep], truth[keep])
            verdicts, cells = {}, []
            if model != args.reference:
                for key in COMPARED:
                    d = paired_bootstrap(
                        preds[args.reference][:, keep], preds[model][:, keep], truth[keep], key, args.n_boot
                    )
                    note = f"paired bootstrap over clips and seeds ({d['n']} resamples), reference - model"
                    metrics[f"delta_{SCHEMA[key]}"] = ci_metric(d["mean_diff"], d["lo"], d["hi"], note=note)
                    verdicts[key] = verdict(key, d["lo"], d["hi"])
                    cells.append(f"{key} {d['mean_diff']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}] {verdicts[key]}")
            m = {k: metrics[SCHEMA[k]]["mean"] for k in COMPARED}
            print(f"{model:24s} {m['mae']:8.4f} {m['non0_acc2']:10.4f} {m['acc7']:8.4f}   " + "; ".join(cells))
            settings = {"reference": args.reference, "subset": subset, "clips": int(keep.sum()), "seeds": seeds}
            rows.append(row("multimodal-compare", args.dataset, model, metrics, settings, verdicts=verdicts or None))
    decided = [r for r in rows if r["settings"]["subset"] == "all" and r["verdicts"]]
    wins = [r["model"] for r in decided if r["verdicts"]["mae"] == "reference better"]
    print(f"\n{args.reference} beats {len(wins)}/{len(decided)} models on MAE with the CI excluding 0: {wins}")
    return rows


# --- robust (H2) ------------------------------------------------------------------------------------------------


def sweep_run(
    folder: Path,
    load: Callable[[], tuple[Any, Any]],
    dataset: str,
    protocol: str,
    rates: Sequence[float],
    mask_seeds: Sequence[int],
    examples: Sequence[Any],
    truth: np.ndarray,
) -> list[dict]:
    """`robustness.sweep` of one run under one protocol (rows with `_pred`), cached in `robust_<protocol>.json`."""
    from sentimentkit.multimodal.robustness import sweep

    meta = {
        "dataset": dataset,
        "protocol": protocol,
        "rates": [float(r) for r in rates],
        "mask_seeds": [int(s) for s in mask_seeds],
        "clips": int(truth.size),
    }

    def compute() -> list[dict]:
        task, module = load()
        items = task.encode(examples)
        found = sweep(
            lambda corrupted: task.predict_values(module, corrupted, BATCH),
            items,
            truth,
            [protocol],
            {protocol: rates},
            mask_seeds,
            unk_id=task.tokenizer.unk_token_id,
        )
        return [{k: v for k, v in r.items() if not k.startswith("_")} | {"pred": r["_pred"].tolist()} for r in found]

    saved = cached(folder / f"robust_{protocol}.json", meta, compute)
    return [
        {k: v for k, v in r.items() if k != "pred"} | {"_pred": np.asarray(r["pred"]), "_truth": truth} for r in saved
    ]


def predictions(
    folder: Path, load: Callable[[], tuple[Any, Any]], dataset: str, variant: str, clips: Sequence[Any]
) -> np.ndarray:
    """A run's predictions on a variant of the test clips (clips,): "clean" is the run's own `test_values.npy`
    where it is newer than the model; others are cached in `predictions_<variant>.json`."""
    scored, weights = folder / "test_values.npy", folder / "best" / "model.safetensors"
    if variant == "clean" and scored.exists() and scored.stat().st_mtime >= weights.stat().st_mtime:
        return load_values(folder, len(clips))

    def compute() -> list[float]:
        task, module = load()
        return task.predict_values(module, task.encode(clips), BATCH).tolist()

    meta = {"dataset": dataset, "variant": variant, "clips": len(clips)}
    return np.asarray(cached(folder / f"predictions_{variant}.json", meta, compute))


def lazy_loader(folder: Path) -> Callable[[], tuple[Any, Any]]:
    """Load a run's model on first use only (a fully cached run never loads it)."""
    loaded: list[tuple[Any, Any]] = []

    def load() -> tuple[Any, Any]:
        if not loaded:
            loaded.append(load_run(folder))
        return loaded[0]

    return load


def robust(args: argparse.Namespace) -> list[dict]:
    """Absolute M(r), the text-only floor, gain retention G(r)/G(0) and the H2 verdict (spec 7.4 item 8)."""
    from sentimentkit.multimodal.robustness import PROTOCOLS, write_report

    models = list(dict.fromkeys([args.reference, *args.models, args.text_only]))
    present, missing = find_runs(args.runs, args.dataset, models, args.seeds, "best/config.json")
    say(missing_report(missing, args.dataset))
    for needed in (args.reference, args.text_only):
        if not present[needed]:
            raise SystemExit(f"{needed}: no trained run of the reference or the text-only floor; nothing to judge")
    examples = load_test_clips(args.dataset, args.data_dir)
    truth = np.array([x.label for x in examples], dtype=np.float64)
    rates = {p: [float(r) for r in PROTOCOLS[p]] for p in args.protocols}
    rates |= {p: [float(r) for r in args.rates] for p in ("lnln", "av-frames") if args.rates and p in rates}
    sweeps: dict[str, list[dict]] = {}
    clean: dict[str, np.ndarray] = {}
    for model in (m for m in models if present[m]):
        sweeps[model], runs_clean = [], []
        for seed in present[model]:
            folder = run_folder(args.runs, args.dataset, model, seed)
            load = lazy_loader(folder)
            print(f"{model} seed {seed}: sweeping {', '.join(args.protocols)}", flush=True)
            runs_clean.append(predictions(folder, load, args.dataset, "clean", examples))
            for protocol in args.protocols:
                found = sweep_run(
                    folder, load, args.dataset, protocol, rates[protocol], args.mask_seeds, examples, truth
                )
                sweeps[model] += [r | {"train_seed": seed} for r in found]
        clean[model] = np.stack(runs_clean)

    draws = clip_draws(truth.size, args.n_boot, 0)
    estimates: dict[str, dict[Any, tuple[dict, dict]]] = {}
    summaries: dict[str, list[dict]] = {}
    for model, found in sweeps.items():
        groups: dict[tuple[str, float], list[np.ndarray]] = {}
        for r in found:
            groups.setdefault((r["protocol"], r["rate"]), []).append(r["_pred"])
        stacks = {"clean": clean[model]} | {key: np.stack(p) for key, p in groups.items()}
        estimates[model] = {k: (point_metrics(p, truth), bootstrap_metrics(p, truth, draws)) for k, p in stacks.items()}
        summaries[model] = []
        for (protocol, rate), preds in groups.items():
            point, boot = estimates[model][(protocol, rate)]
            entry = {"protocol": protocol, "rate": rate, "runs": len(preds)} | point
            for key in MMSA_KEYS:
                entry[f"{key}_lo"], entry[f"{key}_hi"] = percentile_ci(boot[key])
            summaries[model].append(entry)

    def gain_kept(model: str, key: Any, metric: str) -> dict:
        pick = [
            estimates[m][k]
            for m, k in ((model, key), (args.text_only, key), (model, "clean"), (args.text_only, "clean"))
        ]
        return retention(*[(p[metric], b[metric]) for p, b in pick], metric)

    rows = []
    for model, entries in summaries.items():
        print(f"\n{model} (runs = training seeds x mask seeds): MAE / non0 acc2 [95% CI], gain retention G(r)/G(0)")
        for s in entries:
            key = (s["protocol"], s["rate"])
            metrics = {SCHEMA[k]: ci_metric(s[k], s[f"{k}_lo"], s[f"{k}_hi"]) for k in MMSA_KEYS}
            kept = {}
            if model != args.text_only:
                for metric in GAIN_METRICS:
                    kept[metric] = gain_kept(model, key, metric)
                    metrics[f"gain_retention_{SCHEMA[metric]}"] = ci_metric(
                        kept[metric]["retention"], kept[metric]["lo"], kept[metric]["hi"]
                    )
            print(
                f"  {s['protocol']:11s} {s['rate']:5g}  MAE {s['mae']:.4f} [{s['mae_lo']:.4f}, {s['mae_hi']:.4f}]"
                f"  acc2 {s['non0_acc2']:.4f}"
                + "".join(
                    f"  kept({m}) {fmt(k['retention'], 2)} [{fmt(k['lo'], 2)}, {fmt(k['hi'], 2)}]"
                    for m, k in kept.items()
                )
            )
            settings = {
                "protocol": s["protocol"],
                "rate": s["rate"],
                "mask_seeds": list(args.mask_seeds),
                "seeds": present[model],
                "text_only": args.text_only,
            }
            rows.append(row("multimodal-robustness", args.dataset, model, metrics, settings))
    rows.append(h2_row(args, summaries, gain_kept))
    out = RESULTS / "multimodal_robustness"
    write_report(sweeps, out, "mae")
    write_report(sweeps, out / "acc2_non0", "non0_acc2")
    print(f"report and plots: {out}")
    return rows


def h2_row(args: argparse.Namespace, summaries: Mapping[str, list[dict]], gain_kept: Callable) -> dict:
    """The H2 verdict per metric and the issue's retention target, as one result row for the reference."""
    baselines = [m for m in summaries if m not in (args.reference, args.text_only)]
    verdicts, metrics = {}, {}
    for metric in GAIN_METRICS:
        checks = h2_check(summaries, args.reference, args.text_only, baselines, metric)
        verdicts[SCHEMA[metric]] = {
            "overall": overall([c["holds"] for c in checks.values()]),
            "protocols": {p: c["holds"] for p, c in checks.items()},
            "behind_baselines": {p: c["behind_baselines"][:10] for p, c in checks.items() if c["behind_baselines"]},
            "below_floor": {p: c["below_floor"] for p, c in checks.items() if c["below_floor"]},
        }
        print(f"\nH2 on {metric}: {verdicts[SCHEMA[metric]]['overall']} (baselines {baselines})")
        for protocol, check in checks.items():
            behind = {b for b, *_ in check["behind_baselines"]}
            floor = [rate for rate, *_ in check["below_floor"]]
            print(
                f"  {protocol}: {'holds' if check['holds'] else 'fails'}; behind {sorted(behind)}; "
                f"below the floor at {floor}"
            )
        if any(s["protocol"] == "av-frames" and s["rate"] == 0.5 for s in summaries[args.reference]):
            kept = gain_kept(args.reference, ("av-frames", 0.5), metric)
            met = "met" if kept["retention"] >= RETENTION_TARGET else "not met"
            if met == "met" and not kept["lo"] >= RETENTION_TARGET:
                met = "met on the mean, CI reaches below"
            if kept["gain_0"] <= 0:
                met = "not met: no multimodal gain over the text-only floor on clean clips"
            verdicts[SCHEMA[metric]]["target_av50"] = met
            metrics[f"gain_retention_av50_{SCHEMA[metric]}"] = ci_metric(kept["retention"], kept["lo"], kept["hi"])
            print(
                f"  target: {args.reference} keeps {fmt(kept['retention'], 3)} [{fmt(kept['lo'], 3)}, "
                f"{fmt(kept['hi'], 3)}] of its {metric} gain ({kept['gain_0']:+.4f} clean) at 50 % A/V frames "
                f"missing (>= {RETENTION_TARGET}): {met}"
            )
    settings = {
        "protocols": list(args.protocols),
        "baselines": baselines,
        "text_only": args.text_only,
        "mask_seeds": list(args.mask_seeds),
        "rule": "M(r) >= every baseline's M(r) at every rate and >= the text-only floor's CI bound (spec 7.4.8)",
    }
    return row("multimodal-h2", args.dataset, args.reference, metrics, settings, verdicts=verdicts)


# --- sensitivity (H1, third condition) --------------------------------------------------------------------------


def without(example: Any, part: str) -> Any:
    """The clip with its generated `part` ("signal" or "nuisance") removed from audio and vision: x - part."""
    changed = {}
    for modality in ("audio", "vision"):
        name = f"{modality}_{part}"
        if name not in example.parts:
            raise SystemExit(
                f"{example.source or example.id}: no parts[{name!r}]; generate SynMOSI with with_parts=True"
            )
        changed[modality] = getattr(example, modality) - example.parts[name]
    return replace(example, parts={}, **changed)


def sensitivity(args: argparse.Namespace) -> list[dict]:
    """E|f(x) - f(x - nuisance)| and E|f(x) - f(x - signal)| per model (mean over seeds, CI over clips), the
    reference against each model, and metrics under test-time nuisance amplification (`--eta-test`)."""
    from sentimentkit.multimodal import synmosi

    if not synmosi.is_synmosi(args.dataset):
        raise SystemExit(f"{args.dataset}: sensitivity needs SynMOSI, whose signal and nuisance parts are known")
    models = list(dict.fromkeys([args.reference, *args.models]))
    present, missing = find_runs(args.runs, args.dataset, models, args.seeds, "best/config.json")
    say(missing_report(missing, args.dataset))
    examples = load_test_clips(args.dataset, args.data_dir)
    truth = np.array([x.label for x in examples], dtype=np.float64)
    variants = {
        "clean": examples,
        "minus_nuisance": [without(x, "nuisance") for x in examples],
        "minus_signal": [without(x, "signal") for x in examples],
    }
    for eta in args.eta_test:
        variants[f"eta_test={eta:g}"] = load_test_clips(args.dataset, args.data_dir, eta=eta)
    preds: dict[str, dict[str, np.ndarray]] = {}
    for model in (m for m in models if present[m]):
        per_variant: dict[str, list[np.ndarray]] = {v: [] for v in variants}
        for seed in present[model]:
            folder = run_folder(args.runs, args.dataset, model, seed)
            load = lazy_loader(folder)
            print(f"{model} seed {seed}: predicting {len(variants)} variants of the test clips", flush=True)
            for variant, clips in variants.items():
                per_variant[variant].append(predictions(folder, load, args.dataset, variant, clips))
        preds[model] = {v: np.stack(p) for v, p in per_variant.items()}
    if args.reference not in preds:
        raise SystemExit(f"{args.reference}: no trained run; nothing to compare against")

    per_clip = {
        m: {part: sensitivity_per_clip(p["clean"], p[f"minus_{part}"]) for part in ("nuisance", "signal")}
        for m, p in preds.items()
    }
    rows = []
    print(f"\nsensitivity on {args.dataset} test: mean |f(x) - f(x - part)| [95% CI]; reference {args.reference}")
    for model, parts in per_clip.items():
        metrics, verdicts = {}, {}
        for part, values in parts.items():
            ci = clip_mean_ci(values, args.n_boot)
            per_seed = np.abs(preds[model]["clean"] - preds[model][f"minus_{part}"]).mean(axis=1)
            metrics[f"{part}_sensitivity"] = ci_metric(ci["mean"], ci["lo"], ci["hi"], per_seed.tolist())
        ratio = float(parts["nuisance"].mean() / parts["signal"].mean()) if parts["signal"].mean() > 0 else math.nan
        metrics["nuisance_to_signal"] = summary([ratio])
        line = (
            f"{model:24s} nuisance {metrics['nuisance_sensitivity']['mean']:.4f} "
            f"signal {metrics['signal_sensitivity']['mean']:.4f} ratio {fmt(ratio, 3)}"
        )
        if model != args.reference:
            diffs = {part: clip_mean_ci(per_clip[args.reference][part] - parts[part], args.n_boot) for part in parts}
            for part, d in diffs.items():
                metrics[f"delta_{part}_sensitivity"] = ci_metric(d["mean"], d["lo"], d["hi"], note="reference - model")
            less_nuisance = diffs["nuisance"]["hi"] < 0
            less_signal = diffs["signal"]["hi"] < 0
            verdicts["h1_sensitivity"] = "holds" if less_nuisance and not less_signal else "fails"
            line += (
                f"  reference - model: nuisance {diffs['nuisance']['mean']:+.4f} [{diffs['nuisance']['lo']:+.4f}, "
                f"{diffs['nuisance']['hi']:+.4f}], signal {diffs['signal']['mean']:+.4f} "
                f"[{diffs['signal']['lo']:+.4f}, {diffs['signal']['hi']:+.4f}] -> {verdicts['h1_sensitivity']}"
            )
        print(line)
        settings = {"reference": args.reference, "seeds": present[model], "parts": "audio+vision removed together"}
        rows.append(row("multimodal-sensitivity", args.dataset, model, metrics, settings, verdicts=verdicts or None))
    compared = [r["verdicts"]["h1_sensitivity"] == "holds" for r in rows if r["verdicts"]]
    print(
        f"H1 sensitivity condition ({args.reference} less nuisance-sensitive, not less signal-sensitive): "
        f"{overall(compared)} over {len(compared)} models"
    )
    rows += eta_test_rows(args, preds, truth, present)
    return rows


def eta_test_rows(
    args: argparse.Namespace,
    preds: Mapping[str, Mapping[str, np.ndarray]],
    truth: np.ndarray,
    present: Mapping[str, list[int]],
) -> list[dict]:
    """Metrics per model under test-time nuisance amplification (trained at the dataset's eta)."""
    from sentimentkit.multimodal import synmosi

    trained_eta = synmosi.parse_spec(args.dataset)["eta"]
    draws = clip_draws(truth.size, args.n_boot, 0)
    rows = []
    if args.eta_test:
        print(f"\ntest-time nuisance amplification (trained at eta {trained_eta:g}): MAE [95% CI] / non0 acc2")
    for model, variants in preds.items():
        cells = []
        for variant, values in variants.items():
            if variant != "clean" and not variant.startswith("eta_test="):
                continue
            eta = trained_eta if variant == "clean" else float(variant.split("=")[1])
            metrics = seed_metrics(values, truth)
            lo, hi = percentile_ci(bootstrap_metrics(values, truth, draws)["mae"])
            metrics["mae"].update(lo=_finite(lo), hi=_finite(hi))
            cells.append(
                f"eta {eta:g}: {metrics['mae']['mean']:.4f} [{lo:.4f}, {hi:.4f}] / {metrics['acc2_non0']['mean']:.4f}"
            )
            settings = {"eta_test": eta, "trained_eta": trained_eta, "seeds": present[model]}
            rows.append(row("multimodal-eta-test", args.dataset, model, metrics, settings))
        if args.eta_test:
            print(f"{model:24s} " + "; ".join(cells))
    return rows


# --- eta sweep (H1, first and second conditions) ----------------------------------------------------------------


def eta_dataset(runs: Path, eta: float, model: str, seed: int) -> str:
    """The dataset name of the runs trained at `eta`: synmosi:eta=E, or plain synmosi (eta 1 is its default)."""
    name = f"synmosi:eta={eta:g}"
    if eta == 1.0 and not run_folder(runs, name, model, seed).exists():
        return "synmosi"
    return name


def eta_sweep(args: argparse.Namespace) -> list[dict]:
    """(reference - model) MAE improvement per eta with a bootstrap CI, and its least-squares slope over eta."""
    models = list(dict.fromkeys([args.reference, *args.models]))
    truth = np.array([x.label for x in load_test_clips("synmosi", args.data_dir)], dtype=np.float64)
    values: dict[tuple[str, float], dict[int, np.ndarray]] = {}
    for eta in args.etas:
        missing = []
        for model in models:
            for seed in args.seeds:
                folder = run_folder(args.runs, eta_dataset(args.runs, eta, model, seed), model, seed)
                if (folder / "test_values.npy").exists():
                    values.setdefault((model, eta), {})[seed] = load_values(folder, truth.size)
                else:
                    missing.append((model, seed, folder / "test_values.npy"))
        say(missing_report(missing, f"synmosi:eta={eta:g}"))
    rows = []
    for other in models[1:]:
        etas, reference, compared, used = [], [], [], []
        for eta in args.etas:
            ref_runs, other_runs = values.get((args.reference, eta), {}), values.get((other, eta), {})
            seeds = sorted(set(ref_runs) & set(other_runs))
            if seeds:
                etas.append(eta)
                used.append(seeds)
                reference.append(np.stack([ref_runs[s] for s in seeds]))
                compared.append(np.stack([other_runs[s] for s in seeds]))
        if not etas:
            print(f"{args.reference} vs {other}: no eta with runs of both; skipped")
            continue
        point, draws = improvement_draws(reference, compared, truth, "mae", args.n_boot, 0)
        print(
            f"\n{args.reference} vs {other}: MAE({other}) - MAE({args.reference}) per eta [95% CI] "
            "(> 0: the reference is better)"
        )
        per_eta_ok = []
        for i, eta in enumerate(etas):
            lo, hi = percentile_ci(draws[:, i])
            if eta >= 2:
                per_eta_ok.append(lo > 0)
            print(f"  eta {eta:g}: {point[i]:+.4f} [{lo:+.4f}, {hi:+.4f}] ({len(reference[i])} seeds)")
            metrics = {
                "mae_improvement": ci_metric(point[i], lo, hi, note="MAE(model) - MAE(reference), clip bootstrap"),
                "mae_reference": summary([mmsa_regression(p, truth)["mae"] for p in reference[i]]),
                "mae_model": summary([mmsa_regression(p, truth)["mae"] for p in compared[i]]),
            }
            settings = {"reference": args.reference, "eta": eta, "seeds": used[i]}
            rows.append(row("multimodal-eta-sweep", f"synmosi:eta={eta:g}", other, metrics, settings))
        verdicts = {"beats_at_every_eta": overall([percentile_ci(draws[:, i])[0] > 0 for i in range(len(etas))])}
        if len(etas) >= 2:
            fit = slope_ci(etas, point, draws)
            slope_ok = fit["lo"] > 0
            verdicts["h1_growing_gain"] = overall([slope_ok, *per_eta_ok]) if per_eta_ok else overall([slope_ok])
            print(
                f"  slope over eta {fit['slope']:+.4f} per unit eta [{fit['lo']:+.4f}, {fit['hi']:+.4f}]; "
                f"grows with eta (slope CI > 0, improvement CI > 0 at eta >= 2): {verdicts['h1_growing_gain']}"
            )
            metrics = {"mae_improvement_slope": ci_metric(fit["slope"], fit["lo"], fit["hi"], note="least squares")}
            settings = {"reference": args.reference, "etas": etas}
            rows.append(row("multimodal-eta-slope", "synmosi:eta-sweep", other, metrics, settings, verdicts=verdicts))
        print(f"  {args.reference} better than {other} at every eta (CI > 0): {verdicts['beats_at_every_eta']}")
    return rows


# --- command line -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    every = argparse.ArgumentParser(add_help=False)
    every.add_argument("--models", nargs="+", required=True, help="run folder names (configs/mm names)")
    every.add_argument("--reference", default="almt")
    every.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    every.add_argument("--runs", type=Path, default=Path("runs/mm"))
    every.add_argument("--data-dir", default=None)
    every.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    for name in ("compare", "robust", "sensitivity"):
        sub = commands.add_parser(name, parents=[every], help=globals()[name].__doc__.splitlines()[0])
        sub.add_argument("--dataset", default="synmosi")
    from sentimentkit.multimodal.robustness import PROTOCOLS

    robust_parser = commands.choices["robust"]
    robust_parser.add_argument("--text-only", default="text-regressor")
    robust_parser.add_argument("--mask-seeds", type=int, nargs="+", default=[1111, 1112, 1113])
    robust_parser.add_argument(
        "--protocols", nargs="+", default=["av-frames", "drop-av", "noise", "lnln"], choices=list(PROTOCOLS)
    )
    robust_parser.add_argument(
        "--rates", type=float, nargs="+", default=None, help="missing rates of lnln and av-frames"
    )
    commands.choices["sensitivity"].add_argument("--eta-test", type=float, nargs="*", default=[])
    eta_parser = commands.add_parser("eta-sweep", parents=[every], help=eta_sweep.__doc__.splitlines()[0])
    eta_parser.add_argument("--etas", type=float, nargs="+", default=[0, 0.5, 1, 2, 4])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    run = {"compare": compare, "robust": robust, "sensitivity": sensitivity, "eta-sweep": eta_sweep}[args.command]
    rows = run(args)
    if rows:
        print(write_rows(SUITE, rows))


if __name__ == "__main__":
    main()
