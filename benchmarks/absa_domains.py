"""Per-dataset table of the aspect polarity model: the shipped `absa-en` against a retrained polarity model
(absa-en v2: every SemEval set and Twitter together, class-balanced loss, selected on macro-F1), gold aspects.

    python benchmarks/absa_domains.py                                      # absa-en and every absa-en-v2 seed
    python benchmarks/absa_domains.py --models absa-en runs/absa-en-v2/polarity/seed1/best

Columns: accuracy and macro-F1 on Laptop14, Restaurant14, Restaurant15, Restaurant16 and Twitter test sets, each
set scored once per model (selection read validation only). A folder's scores are cached in its run folder
(absa_domains.json) and reused. Rows go to results/absa.json (task "aspect-polarity-domains"), one per model and
set, mean and std over the seeds given for it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import command_line, summary, write_rows

from sentimentkit.training.experiment import environment, evaluate

ROOT = Path(__file__).resolve().parents[1]
SETS = ("laptop14", "restaurant14", "restaurant15", "restaurant16", "twitter")
V2_RUNS = ROOT / "runs" / "absa-en-v2" / "polarity"


def scores(model: str) -> dict[str, dict[str, float]]:
    """{set: {accuracy, f1_macro, n}} of one model (a shipped name or a best folder)."""
    folder = Path(model)
    cache = folder.parent / "absa_domains.json" if (folder / "config.json").exists() else None
    if cache is not None and cache.exists() and cache.stat().st_mtime >= (folder / "config.json").stat().st_mtime:
        return json.loads(cache.read_text())
    out = {}
    for name in SETS:
        metrics = evaluate(model, name, "test")
        out[name] = {k: float(metrics[k]) for k in ("accuracy", "f1_macro", "n")}
        print(f"  {model} {name}: accuracy {out[name]['accuracy']:.4f}, macro-F1 {out[name]['f1_macro']:.4f}")
    if cache is not None:
        cache.write_text(json.dumps(out, indent=2) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", help="shipped names or best folders (default: absa-en + v2 seeds)")
    args = parser.parse_args()
    groups: dict[str, list[str]] = {}
    models = args.models or ["absa-en", *sorted(str(p.parent) for p in V2_RUNS.glob("seed*/best/config.json"))]
    groups: dict[str, list[str]] = {}
    for m in models:
        inside_v2 = V2_RUNS.resolve() in Path(m).resolve().parents
        groups.setdefault("absa-en" if m == "absa-en" else "absa-en v2" if inside_v2 else m, []).append(m)
    rows = []
    for label, models in groups.items():
        results = [scores(m) for m in models]
        for name in SETS:
            metrics = {k: summary([r[name][k] for r in results]) for k in ("accuracy", "f1_macro")}
            rows.append(
                {
                    "suite": "absa",
                    "task": "aspect-polarity-domains",
                    "dataset": name,
                    "split": "test",
                    "model": label,
                    "backbone": "all-MiniLM-L6-v2",
                    "metrics": metrics,
                    "settings": {"seeds": len(models), "n": int(results[0][name]["n"]), "aspects": "gold"},
                    "command": command_line(),
                    "env": environment(),
                }
            )
            print(
                f"{label:12s} {name:13s} accuracy {metrics['accuracy']['mean']:.4f} ± {metrics['accuracy']['std']:.4f}"
                f"  macro-F1 {metrics['f1_macro']['mean']:.4f} ± {metrics['f1_macro']['std']:.4f}"
            )
    print(write_rows("absa", rows))


if __name__ == "__main__":
    main()
