"""Robustness protocols for multimodal models (spec 6.1-6.3): corrupt encoded clips, sweep rates, report.

`corrupt(items, protocol, rate, seed, unk_id=...)` returns NEW `MultimodalItem`s; the inputs are never changed.
The random draws for clip i and modality m come from `np.random.default_rng([seed, i, m])` (m: text 0, audio 1,
vision 2), so a clip's mask depends on the mask seed and its position in the list only, never on batching, and
every model of a comparison sees exactly the same corrupted clips.

Protocols (`PROTOCOLS` maps each to its default rates):
- "lnln": the MMSA/LNLN missing-data rule on ALL modalities (MMSA `data_loader.py:89-139`, LNLN
  `robust_evaluation.py`): keep = U(0,1) > rate per token or frame. Text positions 0 ([CLS]) and len-1 ([SEP]) are
  always kept; dropped tokens become `unk_id` (the attention mask is unchanged, as in MMSA). Dropped audio and
  vision frames are zeroed (still present, as MMSA's zeroed frames are). MMSA draws one (N, T) matrix per modality
  after `np.random.seed(seed)` over padded arrays; our clips are unpadded and drawn per clip, so its masks cannot
  be reproduced bit for bit. The rule and its rates are the same.
- "av-frames": the same rule on audio and vision only; the text is intact.
- "drop-audio", "drop-vision", "drop-av": the whole modality removed (a (0, D) array; rate ignored).
- "noise": additive Gaussian noise on audio and vision at a per-channel SNR of `rate` dB: the noise std of channel
  c is RMS(x[:, c] over the clip's real frames) / 10**(snr/20). A channel that is all zeros gets none; inf = clean.
- "shift": audio and vision delayed by `rate` frames relative to the text: zero frames are inserted at the start
  and the clip keeps its length (frames pushed past the end are cut). A negative rate moves them earlier.

`sweep` runs a predict function over protocols x rates x mask seeds and scores each run with `mmsa_regression`;
`summarise` averages over seeds with a bootstrap 95% CI over seeds x clips; `write_report` writes JSON, a
Markdown table and one plot per protocol.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.encoding import MultimodalItem
from .metrics import LOWER_IS_BETTER, MMSA_KEYS, mmsa_regression, mmsa_regression_rows

PROTOCOLS: dict[str, tuple[float, ...]] = {
    "lnln": tuple(round(0.1 * i, 1) for i in range(10)),
    "av-frames": tuple(round(0.1 * i, 1) for i in range(10)),
    "drop-audio": (1.0,),
    "drop-vision": (1.0,),
    "drop-av": (1.0,),
    "noise": (20.0, 10.0, 5.0, 0.0),
    "shift": (0.0, 5.0, 10.0, 25.0),
}
RATE_LABEL = {"noise": "SNR (dB)", "shift": "shift (frames)"}
_TEXT, _AUDIO, _VISION = 0, 1, 2
_SEEDLESS = frozenset({"drop-audio", "drop-vision", "drop-av", "shift"})  # no random draws: one run serves all seeds

Predict = Callable[[list[MultimodalItem]], Any]


def _rng(seed: int, index: int, modality: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, modality])


def _drop_tokens(ids: tuple[int, ...], rate: float, rng: np.random.Generator, unk_id: int) -> tuple[int, ...]:
    keep = rng.random(len(ids)) > rate  # (L,)
    keep[0] = keep[-1] = True  # [CLS] and [SEP]
    return tuple(t if k else unk_id for t, k in zip(ids, keep, strict=True))


def _drop_frames(frames: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    keep = rng.random(frames.shape[0]) > rate  # (T,)
    return np.where(keep[:, None], frames, 0).astype(frames.dtype)


def _add_noise(frames: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    if snr_db == math.inf or frames.shape[0] == 0:
        return frames.copy()
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=0))  # (D,)
    std = rms / 10 ** (snr_db / 20)
    return (frames + rng.standard_normal(frames.shape) * std).astype(frames.dtype)


def _shift(frames: np.ndarray, steps: int) -> np.ndarray:
    out = np.zeros_like(frames)
    t = frames.shape[0]
    if steps >= 0:
        out[steps:] = frames[: max(t - steps, 0)]
    else:
        out[: max(t + steps, 0)] = frames[-steps:]
    return out


def corrupt(
    items: Sequence[MultimodalItem], protocol: str, rate: float, seed: int, *, unk_id: int
) -> list[MultimodalItem]:
    """Corrupted copies of `items` under `protocol` at `rate` (a missing rate in [0, 1], an SNR in dB for "noise",
    frames for "shift"; ignored by the drops), with mask seed `seed`. See the module docstring for each rule."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown robustness protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if protocol in ("lnln", "av-frames") and not 0.0 <= rate <= 1.0:
        raise ValueError(f"{protocol}: the missing rate must be in [0, 1], got {rate}")
    if protocol == "shift" and rate != int(rate):
        raise ValueError(f"shift: the rate is a whole number of frames, got {rate}")
    out = []
    for i, item in enumerate(items):
        ids, audio, vision = item.input_ids, item.audio.copy(), item.vision.copy()
        if protocol in ("lnln", "av-frames"):
            if protocol == "lnln" and ids:
                ids = _drop_tokens(ids, rate, _rng(seed, i, _TEXT), unk_id)
            audio = _drop_frames(item.audio, rate, _rng(seed, i, _AUDIO))
            vision = _drop_frames(item.vision, rate, _rng(seed, i, _VISION))
        elif protocol == "noise":
            audio = _add_noise(item.audio, rate, _rng(seed, i, _AUDIO))
            vision = _add_noise(item.vision, rate, _rng(seed, i, _VISION))
        elif protocol == "shift":
            audio, vision = _shift(item.audio, int(rate)), _shift(item.vision, int(rate))
        if protocol in ("drop-audio", "drop-av"):
            audio = item.audio[:0].copy()  # (0, D_a)
        if protocol in ("drop-vision", "drop-av"):
            vision = item.vision[:0].copy()  # (0, D_v)
        out.append(replace(item, input_ids=tuple(ids), audio=audio, vision=vision))
    return out


def _is_clean(protocol: str, rate: float) -> bool:
    return (protocol in ("lnln", "av-frames", "shift") and rate == 0) or (protocol == "noise" and rate == math.inf)


def sweep(
    predict: Predict,
    items: Sequence[MultimodalItem],
    truth: Sequence[float] | np.ndarray,
    protocols: Sequence[str],
    rates: Mapping[str, Sequence[float]] | None = None,
    mask_seeds: Sequence[int] = (1111, 1112, 1113),
    *,
    unk_id: int,
) -> list[dict[str, Any]]:
    """Score `predict` (a list of items -> one value per item) under each protocol, rate and mask seed.

    rates: per-protocol rates (default `PROTOCOLS`). Returns one row per (protocol, rate, seed):
    {protocol, rate, seed, **mmsa_regression}, plus the private keys `_pred` (the per-clip predictions, for
    `summarise`'s bootstrap) and `_truth`; `public_rows` drops them. Clean settings (rate 0, shift 0) reuse one
    clean prediction, and the seedless protocols (drops, shift) run once and are reported under every seed."""
    truth_array = np.asarray(truth, dtype=np.float64).reshape(-1)
    if truth_array.size != len(items):
        raise ValueError(f"sweep: {len(items)} items but {truth_array.size} truths")
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown robustness protocol(s) {unknown}; known: {', '.join(PROTOCOLS)}")
    cache: dict[Any, np.ndarray] = {}

    def run(protocol: str, rate: float, seed: int) -> np.ndarray:
        key = "clean" if _is_clean(protocol, rate) else (protocol, rate, None if protocol in _SEEDLESS else seed)
        if key not in cache:
            corrupted = list(items) if key == "clean" else corrupt(items, protocol, rate, seed, unk_id=unk_id)
            values = np.asarray(predict(corrupted), dtype=np.float64).reshape(-1)
            if values.size != len(items):
                raise ValueError(f"predict returned {values.size} values for {len(items)} clips ({protocol}, {rate})")
            cache[key] = values
        return cache[key]

    rows = []
    for protocol in protocols:
        for rate in (rates or {}).get(protocol, PROTOCOLS[protocol]):
            for seed in mask_seeds:
                pred = run(protocol, float(rate), int(seed))
                rows.append(
                    {"protocol": protocol, "rate": float(rate), "seed": int(seed)}
                    | mmsa_regression(pred, truth_array)
                    | {"_pred": pred, "_truth": truth_array}
                )
    return rows


def public_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows without their private keys (`_pred`, `_truth`): JSON-ready."""
    return [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]


def _bootstrap_ci(preds: np.ndarray, truth: np.ndarray, n: int, seed: int) -> dict[str, tuple[float, float]]:
    """95% percentile CI of each metric's seed mean; preds (seeds, clips). Each resample draws clips with
    replacement (the same draw for every seed) and averages the seeds' metrics on it."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in MMSA_KEYS}
    for start in range(0, n, 250):
        index = rng.integers(0, truth.size, (min(250, n - start), truth.size))  # (B, clips)
        per_seed = [mmsa_regression_rows(p[index], truth[index]) for p in preds]
        for key in MMSA_KEYS:
            draws[key].append(np.mean([m[key] for m in per_seed], axis=0))
    out = {}
    for key, chunks in draws.items():
        values = np.concatenate(chunks)
        finite = values[np.isfinite(values)]
        out[key] = tuple(float(v) for v in np.percentile(finite, [2.5, 97.5])) if finite.size else (math.nan,) * 2
    return out


def summarise(rows: Sequence[Mapping[str, Any]], n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Per (protocol, rate), in first-seen order: the mean over mask seeds of each metric, and `<metric>_lo` /
    `<metric>_hi`, a bootstrap 95% CI over seeds x clips (clips resampled, seeds averaged). Rows without `_pred`
    (e.g. read back from JSON) get the means only. Each protocol also gets a `rate = "mean"` row: the mean over
    its rates (spec 6.3)."""
    groups: dict[tuple[str, float], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["protocol"], row["rate"]), []).append(row)
    out: list[dict[str, Any]] = []
    for (protocol, rate), members in groups.items():
        summary: dict[str, Any] = {"protocol": protocol, "rate": rate, "seeds": len(members), "n": members[0]["n"]}
        for key in MMSA_KEYS:
            summary[key] = float(np.mean([m[key] for m in members]))
        if all("_pred" in m for m in members) and n_boot > 0:
            preds = np.stack([m["_pred"] for m in members])  # (seeds, clips)
            for key, (lo, hi) in _bootstrap_ci(preds, np.asarray(members[0]["_truth"]), n_boot, seed).items():
                summary[f"{key}_lo"], summary[f"{key}_hi"] = lo, hi
        out.append(summary)
    ordered: list[dict[str, Any]] = []
    for protocol in dict.fromkeys(s["protocol"] for s in out):
        points = [s for s in out if s["protocol"] == protocol]
        ordered += points
        if len(points) > 1:
            mean = {"protocol": protocol, "rate": "mean", "seeds": points[0]["seeds"], "n": points[0]["n"]}
            ordered.append(mean | {key: float(np.mean([s[key] for s in points])) for key in MMSA_KEYS})
    return ordered


def _cell(summary: Mapping[str, Any] | None, metric: str) -> str:
    if summary is None:
        return ""
    value = summary[metric]
    scale = 1.0 if metric in ("mae", "corr") else 100.0  # accuracies and F1 as percentages
    text = f"{value * scale:.2f}" if math.isfinite(value) else "nan"
    if f"{metric}_lo" in summary:
        text += f" [{summary[f'{metric}_lo'] * scale:.2f}, {summary[f'{metric}_hi'] * scale:.2f}]"
    return text


def _plot(protocol: str, summaries: Mapping[str, list[dict[str, Any]]], metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for model, rows in summaries.items():
        points = sorted((r for r in rows if r["protocol"] == protocol and r["rate"] != "mean"), key=lambda r: r["rate"])
        if not points:
            continue
        x = [r["rate"] for r in points]
        (line,) = ax.plot(x, [r[metric] for r in points], marker="o", label=model)
        if all(f"{metric}_lo" in r for r in points):
            lo, hi = [r[f"{metric}_lo"] for r in points], [r[f"{metric}_hi"] for r in points]
            if len(points) > 1:
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
            else:  # one point (a whole-modality drop): an error bar instead of a band
                y = points[0][metric]
                ax.errorbar(
                    x, [y], yerr=[[max(y - lo[0], 0.0)], [max(hi[0] - y, 0.0)]], color=line.get_color(), capsize=4
                )
    if protocol == "noise":
        ax.invert_xaxis()  # from clean (high SNR) to noisy
    better = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
    ax.set(xlabel=RATE_LABEL.get(protocol, "missing rate"), ylabel=f"{metric} ({better})", title=protocol)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(
    results: Mapping[str, Sequence[Mapping[str, Any]]], out_dir: str | Path, metric: str = "mae"
) -> dict[str, Path]:
    """Write `robustness.json` (per model: the seed rows and the summaries), `robustness.md` (protocol, rate, one
    column per model: `metric` mean [95% CI]) and `robustness-<protocol>.png` (x = rate, y = metric, one line per
    model with its CI band). `results` maps a model name to its `sweep` rows (summaries are computed here).
    Returns {"json": .., "markdown": .., "plot:<protocol>": ..}."""
    if metric not in MMSA_KEYS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {MMSA_KEYS}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries = {model: summarise(rows) for model, rows in results.items()}
    files: dict[str, Path] = {"json": out / "robustness.json", "markdown": out / "robustness.md"}
    payload = {
        "metric": metric,
        "models": {m: {"rows": public_rows(results[m]), "summary": summaries[m]} for m in results},
    }
    files["json"].write_text(json.dumps(_json_ready(payload), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    keys = list(dict.fromkeys((r["protocol"], r["rate"]) for rows in summaries.values() for r in rows))
    lookup = {(m, r["protocol"], r["rate"]): r for m, rows in summaries.items() for r in rows}
    scale = "" if metric in ("mae", "corr") else " (%)"
    lines = [
        f"# Robustness: {metric}{scale}, mean over mask seeds [bootstrap 95% CI over seeds x clips]",
        "",
        "| protocol | rate | " + " | ".join(summaries) + " |",
        "|---|---|" + "---|" * len(summaries),
    ]
    for protocol, rate in keys:
        cells = [_cell(lookup.get((m, protocol, rate)), metric) for m in summaries]
        lines.append(f"| {protocol} | {rate} | " + " | ".join(cells) + " |")
    files["markdown"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    for protocol in dict.fromkeys(p for p, _ in keys):
        path = out / f"robustness-{protocol}.png"
        _plot(protocol, summaries, metric, path)
        files[f"plot:{protocol}"] = path
    return files


def _json_ready(value: Any) -> Any:
    """Plain JSON: numpy scalars as Python numbers, NaN (an undefined metric, e.g. corr of a constant) as null."""
    if isinstance(value, Mapping):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
