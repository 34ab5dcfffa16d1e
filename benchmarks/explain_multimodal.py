"""Do multimodal explanations point at the sentiment signal? SynMOSI knows, frame by frame, where it is.

    python benchmarks/explain_multimodal.py                                # ALMT and MSRN, 200 test clips
    python benchmarks/explain_multimodal.py --models almt=runs/mm/synmosi/almt/seed1/best --n 50

Every SynMOSI clip is generated as rest + signal + eta * nuisance (docs/synmosi.md), so each audio and vision frame
has a known signal energy |signal[t]| and nuisance energy |nuisance[t]| (L2 over features). For a seeded sample of
test clips (generated with their parts), each model's prediction is explained (sentimentkit.explain.ClipExplainer:
integrated gradients over token states, audio and vision frames, --steps) and scored three ways:

- modality shares: |text|, |audio| and |vision| attribution totals over their sum, averaged over clips;
- alignment, per modality: Spearman correlation over the clip's frames between |attribution| and the signal
  energy, and between |attribution| and the nuisance energy (ALMT: also for its AHL attention carried to frames);
  a model that reads the signal and ignores the nuisance has the first high and the second near zero;
- frame deletion, per modality: the absolute change of the predicted value when the top 10/20/30/50 % of the
  modality's frames (ranked by |attribution|, by ALMT's AHL attention, or at random) are removed from the clip,
  averaged over the fractions (comprehensiveness for a regression output; higher: the ranking found the frames
  the prediction rests on).

Mean and std over clips go to results/explain.json (suite explain, task multimodal-faithfulness), one row per
model. SynMOSI conclusions hold under the generator, not on real MOSI features. One thread.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import command_line, write_rows

from sentimentkit.training.experiment import environment

FRACTIONS = (0.1, 0.2, 0.3, 0.5)
DEFAULT_MODELS = (
    "almt=runs/mm/synmosi/almt~03b315dc/seed1/best",
    "msrn=runs/mm/synmosi/msrn/seed1/best",
)


def _stats(values: list[float]) -> dict:
    clean = [v for v in values if np.isfinite(v)]
    return {
        "mean": statistics.fmean(clean) if clean else float("nan"),
        "std": statistics.stdev(clean) if len(clean) > 1 else 0.0,
        "n": len(clean),
    }


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (NaN when either side is constant or has fewer than 3 frames)."""
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def without_frames(clip, modality: str, drop: set[int]):
    frames = getattr(clip, modality)
    keep = [t for t in range(frames.shape[0]) if t not in drop]
    return replace(clip, **{modality: frames[keep]}, parts={}, label=None)


def deletion(pipeline, clip, value: float, modality: str, order: list[int]) -> float:
    """Mean |value - value without the top f of `order`| over FRACTIONS."""
    if not order:
        return float("nan")
    edited = []
    for f in FRACTIONS:
        k = max(1, round(f * len(order)))
        edited.append(without_frames(clip, modality, set(order[:k])))
    values = [p.value for p in pipeline(edited)]
    return statistics.fmean(abs(value - v) for v in values)


def run(name: str, folder: str, clips: list, steps: int, seed: int) -> dict:
    import sentimentkit
    from sentimentkit.explain import ClipExplainer

    pipeline = sentimentkit.load(folder, backend="torch")
    explainer = ClipExplainer(pipeline, steps=steps)
    found: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        found.setdefault(key, []).append(value)

    for k, clip in enumerate(clips):
        start = time.perf_counter()
        a = explainer.attribute(replace(clip, label=None))
        add("seconds_per_explanation", time.perf_counter() - start)
        add("abs_completeness_delta", abs(a.delta))
        totals = np.abs([a.text_total, a.audio.total, a.vision.total])
        for modality_name, share in zip(("text", "audio", "vision"), totals / max(totals.sum(), 1e-12), strict=True):
            add(f"share_{modality_name}", float(share))
        plain = replace(clip, parts={}, label=None)
        value = pipeline(plain)[0].value
        rng = random.Random(seed + k)
        for modality, frames in (("audio", a.audio), ("vision", a.vision)):
            scores = np.abs(np.asarray(frames.scores[: frames.read]))
            if len(scores) == 0:
                continue
            signal = np.linalg.norm(clip.parts[f"{modality}_signal"][: frames.read], axis=1)
            nuisance = np.linalg.norm(clip.parts[f"{modality}_nuisance"][: frames.read], axis=1)
            add(f"{modality}_ig_vs_signal", spearman(scores, signal))
            add(f"{modality}_ig_vs_nuisance", spearman(scores, nuisance))
            rankings = {"ig": [int(t) for t in np.argsort(-scores, kind="stable")]}
            if frames.attention is not None:
                attention = np.asarray(frames.attention[: frames.read])
                add(f"{modality}_attention_vs_signal", spearman(attention, signal))
                add(f"{modality}_attention_vs_nuisance", spearman(attention, nuisance))
                rankings["attention"] = [int(t) for t in np.argsort(-attention, kind="stable")]
            shuffled = list(range(len(scores)))
            rng.shuffle(shuffled)
            rankings["random"] = shuffled
            for how, order in rankings.items():
                add(f"{modality}_deletion_{how}", deletion(pipeline, plain, value, modality, order))
        if (k + 1) % 25 == 0:
            print(
                f"{name} {k + 1}/{len(clips)}: audio IG~signal {statistics.fmean(found['audio_ig_vs_signal']):.3f} "
                f"deletion IG {statistics.fmean(found['audio_deletion_ig']):.3f} "
                f"random {statistics.fmean(found['audio_deletion_random']):.3f}",
                flush=True,
            )
    metrics = {key: _stats(values) for key, values in sorted(found.items())}
    for key, value in metrics.items():
        print(f"{name} {key}: {value['mean']:.4f} (std {value['std']:.4f}, n {value['n']})")
    return {
        "suite": "explain",
        "task": "multimodal-faithfulness",
        "dataset": "synmosi",
        "split": "test",
        "model": name,
        "backbone": "all-MiniLM-L6-v2",
        "metrics": metrics,
        "settings": {
            "run": str(Path(folder)),
            "clips": len(clips),
            "steps": steps,
            "seed": seed,
            "fractions_deleted": list(FRACTIONS),
            "baseline": "zero token states, zero audio and vision frames",
            "energy": "L2 norm over features of the frame's signal or nuisance part",
            "generator": "SynMOSI 1.0: conclusions hold under the generator",
            "threads": 1,
        },
        "command": command_line(),
        "env": environment(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="NAME=MODEL_FOLDER ...")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-write", action="store_true", help="Print only; leave results/ as it is.")
    args = parser.parse_args()

    import torch

    from sentimentkit.multimodal import synmosi

    torch.set_num_threads(1)
    pairs = []
    for spec in args.models:
        name, sep, folder = spec.partition("=")
        if not sep or not Path(folder, "config.json").exists():
            raise SystemExit(f"--models {spec!r}: expected NAME=FOLDER with a trained model (config.json) in FOLDER")
        pairs.append((name, folder))
    test = synmosi.generate("test", data_dir=args.data_dir, with_parts=True)
    clips = random.Random(args.seed).sample(test, min(args.n, len(test)))
    rows = [run(name, folder, clips, args.steps, args.seed) for name, folder in pairs]
    if not args.no_write:
        print(write_rows("explain", rows))


if __name__ == "__main__":
    main()
