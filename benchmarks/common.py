"""Helpers shared by the benchmark scripts: result rows per ../shared/BENCHMARKS.md, and RESULTS.md."""

from __future__ import annotations

import json
import os
import shlex
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# The benchmarks run from a checkout with the shared folder beside it; the library itself never guesses that.
_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if _SHARED_DATA.is_dir():
    os.environ.setdefault("SENTIMENTKIT_DATA", str(_SHARED_DATA))


def summary(values: list[float]) -> dict:
    """{"mean", "std" (sample std; 0 for one value), "n", "values"} of a metric over seeds or runs."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
        "values": values,
    }


def command_line() -> str:
    """The command that reproduces a result (script path relative to the repository).

    `--eval-only` and `--recorded-only` are dropped: they only rescored or gathered existing runs, and the same
    command without them trains whatever runs are missing first, so that is the command that reproduces the row
    from scratch.
    """
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(Path(__file__).resolve().parents[1])
    except ValueError:
        script = Path(script.name)
    args = [a for a in sys.argv[1:] if a not in ("--eval-only", "--recorded-only")]
    return " ".join(["python", str(script), *map(shlex.quote, args)])


def write_rows(suite: str, rows: list[dict], replace: dict | None = None) -> Path:
    """Merge rows into results/<suite>.json: a row replaces an older one with the same identity.

    `replace`: also drop every older row whose fields equal all of these (e.g. {"task": "cold-start"}), for a
    suite whose new rows supersede the old ones even where their settings changed.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{suite}.json"
    old = json.loads(path.read_text()) if path.exists() else []

    def key(row: dict) -> tuple:
        # seeds/runs say how many, not what; an unset setting (None) is the same run as one without that key
        settings = {
            k: v for k, v in (row.get("settings") or {}).items() if k not in {"seeds", "runs"} and v is not None
        }
        return (row["task"], row["dataset"], row["split"], row["model"], json.dumps(settings, sort_keys=True))

    new_keys = {key(r) for r in rows}
    superseded = [r for r in old if replace and all(r.get(k) == v for k, v in replace.items())]
    merged = [r for r in old if key(r) not in new_keys and r not in superseded] + rows
    path.write_text(json.dumps(merged, indent=2) + "\n")
    return path


def run_seeds(
    config_path: Path,
    dataset: str,
    seeds: list[int],
    runs: Path,
    overrides: list[str] | None = None,
    eval_only: bool = False,
    data_dir: str | None = None,
    test_subset: int | None = None,
) -> list[dict]:
    """Train `config_path` once per seed (resuming what exists), select on validation, score `dataset`'s test split.

    Each seed's run lives in `runs/seed<n>` and its test metrics in `runs/seed<n>/test_metrics.json`.
    """
    from sentimentkit.training.experiment import load_experiment, train

    results = []
    for seed in seeds:
        out = runs / f"seed{seed}"
        extra = [*(overrides or []), f"train.seed={seed}", f"output={out}"]
        if data_dir:
            extra.append(f"data.data_dir={data_dir}")
        if not eval_only:
            train(load_experiment(config_path, extra), progress=False)
        results.extend(score_runs(runs, [seed], dataset, data_dir, test_subset, "test_metrics.json"))
    return results


def score_runs(
    runs: Path,
    seeds: list[int],
    dataset: str,
    data_dir: str | None = None,
    test_subset: int | None = None,
    name: str | None = None,
) -> list[dict]:
    """Score each seed's selected model (`runs/seed<n>/best`) on `dataset`'s test split.

    The metrics, with the validation score the model was selected on, go to `runs/seed<n>/<name>`
    (default `test_metrics_<dataset>.json`).
    """
    from sentimentkit.hub import read_manifest
    from sentimentkit.training.experiment import evaluate

    results = []
    for seed in seeds:
        out = runs / f"seed{seed}"
        best = out / "best" / "config.json"
        if not best.exists():
            raise SystemExit(f"{out / 'best'}: no trained model to score; train it first (run without --eval-only)")
        path = out / (name or f"test_metrics_{dataset}.json")
        scored = {"dataset": dataset, "split": "test", "test_subset": test_subset}
        test = _saved_score(path, scored, best)
        if test is None:
            test = evaluate(out / "best", dataset, "test", data_dir=data_dir, subset=test_subset)
            test["validation"] = read_manifest(out / "best").extra.get("validation")
            test["scored"] = scored
            path.write_text(json.dumps(test, indent=2) + "\n")
        print(f"{runs.name} {dataset} seed {seed}: test accuracy {test.get('accuracy', 0.0):.4f}", flush=True)
        results.append(test)
    return results


def _saved_score(path: Path, scored: dict, best: Path) -> dict | None:
    """The test metrics saved at `path` when they score this same model on this same split and sample.

    Scoring a long-document test split costs minutes per model, and aggregating seeds (`--eval-only`) would
    otherwise pay it again. Metrics older than the model, or from another dataset or sample, are recomputed.
    """
    if not path.exists() or path.stat().st_mtime < best.stat().st_mtime:
        return None
    saved = json.loads(path.read_text())
    return saved if saved.get("scored") == scored else None
