"""Calibrate SynMOSI before any model runs (MULTIMODAL.md 7.3): simple probes fit on train, scored on validation.

Probes: ridge on mean/std/max-pooled channels (A-only, V-only, A+V; A+V over an eta sweep), a 1-layer GRU on
A+V, frozen MiniLM sentence vectors + ridge (text-only) and late fusion (ridge on text + A/V pooled features),
a leak audit (gradient boosting on trivial statistics) and a ceiling probe on the noiseless latent. The test
split is never read. Writes benchmarks/results/synmosi_calibration.json and prints a table.

    python benchmarks/synmosi_calibration.py [--data-dir D] [--seed 0] [--etas 0 0.5 1 2 4] [--no-gru] [--no-text]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, command_line

from sentimentkit.multimodal.synmosi import CONSTANTS, GENERATOR_VERSION, constants_dict, generate
from sentimentkit.types import MultimodalExample

TARGETS = {
    "audio": (0.58, 0.62),
    "vision": (0.63, 0.67),
    "audio+vision": (0.66, 0.70),
    "fusion_minus_text_mae": (None, -0.03),
    "fusion_minus_text_acc2": (0.015, 0.03),
}


def non0_acc2(pred: np.ndarray, truth: np.ndarray) -> float:
    """Accuracy of the sign on clips whose label is not 0 (a prediction of 0 counts as negative), as MMSA."""
    keep = truth != 0
    return float(np.mean((pred[keep] > 0) == (truth[keep] > 0)))


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {"acc2_non0": non0_acc2(pred, truth), "mae": float(np.mean(np.abs(pred - truth)))}


def pool(sequences: list[np.ndarray]) -> np.ndarray:
    """(N, 3 D) mean, std and max of each channel over a clip's real frames (zeros for a clip without frames)."""
    rows = []
    for x in sequences:
        rows.append(np.concatenate([x.mean(0), x.std(0), x.max(0)]) if len(x) else np.zeros(3 * x.shape[1]))
    return np.asarray(rows)


def features(examples: list[MultimodalExample], which: str) -> np.ndarray:
    blocks = []
    if "audio" in which:
        blocks.append(pool([x.audio for x in examples]))
    if "vision" in which:
        blocks.append(pool([x.vision for x in examples]))
    return np.concatenate(blocks, axis=1)


def ridge(train_x: np.ndarray, train_y: np.ndarray, valid_x: np.ndarray) -> np.ndarray:
    """Standardise, RidgeCV over a log grid of alphas (fit on train only), predict validation."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
    return model.fit(train_x, train_y).predict(valid_x)


def stacked_fusion(blocks_train: list[np.ndarray], y_train: np.ndarray, blocks_valid: list[np.ndarray]) -> np.ndarray:
    """Late fusion by stacking, fit on train only: one ridge per block (text; A+V), combined by a linear
    regression on their 5-fold out-of-fold train predictions."""
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold

    folds = KFold(5, shuffle=True, random_state=0)
    out_of_fold = np.zeros((len(y_train), len(blocks_train)))
    for fit, held in folds.split(y_train):
        for j, block in enumerate(blocks_train):
            out_of_fold[held, j] = ridge(block[fit], y_train[fit], block[held])
    combiner = LinearRegression().fit(out_of_fold, y_train)
    valid = np.column_stack([ridge(tr, y_train, va) for tr, va in zip(blocks_train, blocks_valid, strict=True)])
    return combiner.predict(valid)


def labels(examples: list[MultimodalExample]) -> np.ndarray:
    return np.array([x.label for x in examples], dtype=np.float64)


def trivial_statistics(examples: list[MultimodalExample]) -> np.ndarray:
    """What a leak would use: frame counts, fraction of non-zero frames, per-channel means."""
    rows = []
    for x in examples:
        nonzero = [float((m != 0).any(1).mean()) if len(m) else 0.0 for m in (x.audio, x.vision)]
        means = [m.mean(0) if len(m) else np.zeros(m.shape[1]) for m in (x.audio, x.vision)]
        rows.append(np.concatenate([[len(x.audio), len(x.vision)], nonzero, *means]))
    return np.asarray(rows)


def leak_audit(train: list[MultimodalExample], valid: list[MultimodalExample]) -> dict[str, float]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=0)
    model.fit(trivial_statistics(train), labels(train))
    return scores(model.predict(trivial_statistics(valid)), labels(valid))


def ceiling(train: list[MultimodalExample], valid: list[MultimodalExample]) -> dict[str, float]:
    """Ridge on the noiseless A/V signal parts (pooled): what a model that removed all noise and nuisance sees.

    The signal parts are the exact functions of the latent valence/arousal (after conflicts, speaker gains and
    burst timing), so this bounds what A+V can say about y; it still misses clips with no expression burst.
    """

    def noiseless(examples):
        return np.concatenate(
            [pool([x.parts["audio_signal"] for x in examples]), pool([x.parts["vision_signal"] for x in examples])],
            axis=1,
        )

    return scores(ridge(noiseless(train), labels(train), noiseless(valid)), labels(valid))


def gru_probe(train: list[MultimodalExample], valid: list[MultimodalExample], seed: int, epochs: int = 6) -> dict:
    """A 1-layer GRU (hidden 32) per modality over frames averaged in windows of 5, last states -> linear."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    window = 5

    def frames(examples, name, mean, std):
        out = []
        for x in examples:
            m = (getattr(x, name) - mean) / std
            t = max(1, len(m) // window)
            m = m[: t * window].reshape(t, window, -1).mean(1) if len(m) >= window else m.mean(0, keepdims=True)
            out.append(torch.tensor(m, dtype=torch.float32))
        return out

    stats = {}
    for name in ("audio", "vision"):
        allx = np.concatenate([getattr(x, name) for x in train])
        stats[name] = (allx.mean(0), allx.std(0) + 1e-6)
    data = {split: {n: frames(ex, n, *stats[n]) for n in stats} for split, ex in (("train", train), ("valid", valid))}

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.audio = nn.GRU(5, 32, batch_first=True)
            self.vision = nn.GRU(20, 32, batch_first=True)
            self.head = nn.Linear(64, 1)

        def forward(self, audio, vision):
            states = []
            for gru, seqs in ((self.audio, audio), (self.vision, vision)):
                lengths = torch.tensor([len(s) for s in seqs])
                padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True)
                packed = nn.utils.rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
                states.append(gru(packed)[1][0])  # (B, 32)
            return self.head(torch.cat(states, 1)).squeeze(1)

    model = Probe()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    y_train = torch.tensor(labels(train), dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=generator).tolist()
        for start in range(0, len(order), 32):
            idx = order[start : start + 32]
            pred = model([data["train"]["audio"][i] for i in idx], [data["train"]["vision"][i] for i in idx])
            loss = nn.functional.l1_loss(pred, y_train[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        pred = model(data["valid"]["audio"], data["valid"]["vision"]).numpy()
    return {**scores(pred.astype(np.float64), labels(valid)), "epochs": epochs, "hidden": 32, "window_frames": window}


def text_vectors(examples: list[MultimodalExample]) -> np.ndarray:
    """Frozen MiniLM, mean-pooled over real tokens."""
    import torch

    from sentimentkit.encoders.text import load_backbone, load_tokenizer

    torch.set_num_threads(1)
    backbone, tokenizer = load_backbone("minilm").eval(), load_tokenizer("minilm")
    out = []
    with torch.no_grad():
        for start in range(0, len(examples), 64):
            batch = tokenizer(
                [x.text.lower() for x in examples[start : start + 64]],
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            hidden = backbone(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    return np.concatenate(out)


def av_probes(train, valid) -> dict[str, dict[str, float]]:
    y_train, y_valid = labels(train), labels(valid)
    return {
        which: scores(ridge(features(train, which), y_train, features(valid, which)), y_valid)
        for which in ("audio", "vision", "audio+vision")
    }


def _spread_row(probes: dict, fusion: dict, text: dict) -> dict[str, float]:
    """Non0-Acc2 of the ridge probes and the fusion-minus-text deltas for one generator seed (same labels)."""
    row = {f"{k}_acc2_non0": v["acc2_non0"] for k, v in probes.items()}
    row["fusion_minus_text_acc2_non0"] = fusion["acc2_non0"] - text["acc2_non0"]
    row["fusion_minus_text_mae"] = fusion["mae"] - text["mae"]
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--etas", type=float, nargs="+", default=[0, 0.5, 1, 2, 4])
    parser.add_argument("--spread-seeds", type=int, nargs="*", default=[1, 2], help="more generator seeds (ridge)")
    parser.add_argument("--no-gru", action="store_true", help="skip the GRU probe")
    parser.add_argument("--no-text", action="store_true", help="skip the MiniLM text and fusion probes")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    train = generate("train", seed=args.seed, data_dir=args.data_dir, with_parts=True)
    valid = generate("validation", seed=args.seed, data_dir=args.data_dir, with_parts=True)
    generation_s = time.perf_counter() - started
    y_train, y_valid = labels(train), labels(valid)
    result: dict = {"probes_eta1": av_probes(train, valid)}
    result["eta_sweep_audio_vision"] = {}
    for eta in args.etas:
        tr = train if eta == 1 else generate("train", seed=args.seed, eta=eta, data_dir=args.data_dir)
        va = valid if eta == 1 else generate("validation", seed=args.seed, eta=eta, data_dir=args.data_dir)
        av = "audio+vision"
        result["eta_sweep_audio_vision"][str(eta)] = scores(
            ridge(features(tr, av), labels(tr), features(va, av)), labels(va)
        )
    if not args.no_gru:
        result["gru_audio_vision"] = gru_probe(train, valid, args.seed)
    if not args.no_text:
        t_train, t_valid = text_vectors(train), text_vectors(valid)
        text = scores(ridge(t_train, y_train, t_valid), y_valid)
        av_train, av_valid = features(train, "audio+vision"), features(valid, "audio+vision")
        fusion = scores(stacked_fusion([t_train, av_train], y_train, [t_valid, av_valid]), y_valid)
        concat = scores(ridge(np.hstack([t_train, av_train]), y_train, np.hstack([t_valid, av_valid])), y_valid)
        result["text_only"], result["late_fusion"], result["early_fusion_ridge_concat"] = text, fusion, concat
        result["fusion_minus_text"] = {k: fusion[k] - text[k] for k in text}
        spread = {str(args.seed): _spread_row(result["probes_eta1"], fusion, text)}
        for seed in args.spread_seeds:
            tr = generate("train", seed=seed, data_dir=args.data_dir)
            va = generate("validation", seed=seed, data_dir=args.data_dir)
            fused = scores(
                stacked_fusion(
                    [t_train, features(tr, "audio+vision")], y_train, [t_valid, features(va, "audio+vision")]
                ),
                y_valid,
            )
            spread[str(seed)] = _spread_row(av_probes(tr, va), fused, text)
        keys = next(iter(spread.values())).keys()
        spread["mean"] = {k: float(np.mean([row[k] for row in spread.values()])) for k in keys}
        result["generator_seed_spread"] = spread
    result["leak_audit"] = leak_audit(train, valid)
    result["ceiling_noiseless_signal"] = ceiling(train, valid)
    ratios = {}
    for name in ("audio", "vision"):
        signal = np.concatenate([x.parts[f"{name}_signal"] for x in train])
        nuisance = np.concatenate([x.parts[f"{name}_nuisance"] for x in train])
        ratios[name] = float(np.sqrt((nuisance**2).mean() / (signal**2).mean()))
    result["nuisance_to_signal_rms_eta1"] = ratios
    conflicts = [x.meta["conflict"] for x in train + valid]
    result["conflict_rate"] = float(np.mean([c != "none" for c in conflicts]))

    timing = time.perf_counter()
    for split in ("train", "validation", "test"):
        generate(split, seed=args.seed, data_dir=args.data_dir)
    result["generation_s_all_2199_clips"] = time.perf_counter() - timing
    result["generation_s_train_valid_with_parts"] = generation_s
    result.update(
        {
            "generator_version": GENERATOR_VERSION,
            "seed": args.seed,
            "split_scored": "validation (probes fit on train; test never read)",
            "targets": TARGETS,
            "constants": constants_dict(CONSTANTS),
            "command": command_line(),
            "env": {
                "python": platform.python_version(),
                "cpu": platform.processor() or platform.machine(),
                "date": date.today().isoformat(),
            },
        }
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "synmosi_calibration.json").write_text(json.dumps(to_rows(result), indent=2) + "\n")
    print_table(result)
    return result


def to_rows(result: dict) -> list[dict]:
    """Result rows in the schema of ../shared/BENCHMARKS.md (one per probe, so benchmarks/report.py can list them);
    the first row, model "synmosi-generator", carries everything else (constants, targets, sweep, seed spread)."""
    probes = {f"ridge-{k}": v for k, v in result["probes_eta1"].items()}
    probes.update({f"ridge-audio+vision-eta{eta}": v for eta, v in result["eta_sweep_audio_vision"].items()})
    for key in ("gru_audio_vision", "text_only", "late_fusion", "early_fusion_ridge_concat", "leak_audit"):
        if key in result:
            probes[key.replace("_", "-")] = result[key]
    probes["ceiling-noiseless-signal"] = result["ceiling_noiseless_signal"]
    base = {"suite": "synmosi_calibration", "task": "synmosi-calibration", "split": "validation"}
    settings = {"generator_version": result["generator_version"], "seed": result["seed"], "eta": 1.0}
    common = {"command": result["command"], "env": result["env"]}

    def single(x: float) -> dict:
        return {"mean": x, "std": 0.0, "n": 1, "values": [x]}

    details = {k: v for k, v in result.items() if k not in ("command", "env")}
    rows = [
        {
            **base,
            "dataset": "synmosi",
            "model": "synmosi-generator",
            "backbone": "none",
            "metrics": {"generation_s": single(result["generation_s_all_2199_clips"])},
            "settings": settings,
            "calibration": details,
            **common,
        }
    ]
    for model, value in probes.items():
        eta = float(model.rsplit("eta", 1)[1]) if "-eta" in model else 1.0
        text = model.startswith(("text", "late", "early"))
        rows.append(
            {
                **base,
                "dataset": f"synmosi:eta={eta:g},seed={result['seed']}",
                "model": model,
                "backbone": "all-MiniLM-L6-v2 (frozen)" if text else "none",
                "metrics": {"acc2_non0": single(value["acc2_non0"]), "mae": single(value["mae"])},
                "settings": {**settings, "eta": eta},
                **common,
            }
        )
    return rows


def print_table(result: dict) -> None:
    print(f"SynMOSI {result['generator_version']} calibration (seed {result['seed']}, validation)")
    print(f"{'probe':34s} {'non0 Acc2':>10s} {'MAE':>8s}  target Acc2")
    rows = [(f"ridge {k}", v, TARGETS.get(k)) for k, v in result["probes_eta1"].items()]
    rows += [(f"ridge A+V eta={eta}", v, None) for eta, v in result["eta_sweep_audio_vision"].items()]
    for key in ("gru_audio_vision", "text_only", "late_fusion", "leak_audit", "ceiling_noiseless_signal"):
        if key in result:
            rows.append((key, result[key], None))
    for name, value, target in rows:
        print(f"{name:34s} {value['acc2_non0']:10.4f} {value['mae']:8.4f}  {target or ''}")
    if "fusion_minus_text" in result:
        d = result["fusion_minus_text"]
        print(
            f"fusion - text: dAcc2 {d['acc2_non0']:+.4f} (target +0.015..0.03), dMAE {d['mae']:+.4f} (target <= -0.03)"
        )
    if "generator_seed_spread" in result:
        for seed, row in result["generator_seed_spread"].items():
            print(f"generator seed {seed:>4s}: " + ", ".join(f"{k} {v:+.4f}" for k, v in row.items()))
    print(
        f"nuisance/signal RMS at eta 1: {result['nuisance_to_signal_rms_eta1']}; conflict rate "
        f"{result['conflict_rate']:.3f}; all 2199 clips in {result['generation_s_all_2199_clips']:.1f} s"
    )


if __name__ == "__main__":
    main()
