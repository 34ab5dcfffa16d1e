"""Weight-space interpolation of two trained models of one architecture (WiSE-FT, Wortsman et al. 2022): the
model at `weight` w between a start (w = 0) and an end (w = 1), typically a model and its continued training on
new data, which trades what each was best at along one knob that is chosen on validation.

Tensors that are not LoRA interpolate linearly. A LoRA adapter's update (alpha / r) B A does not interpolate by
mixing A and B separately (the product of two mixtures is not the mixture of the products), so the result keeps
both updates exactly: rank r_start + r_end, A' = [sqrt(w) A_end; sqrt(1 - w) A_start] and
B' = [sqrt(w) s_end B_end, sqrt(1 - w) s_start B_start] with each side's scale s = alpha / r folded into B and the
new lora_alpha = rank (scale 1), so that (alpha' / r') B' A' = w s_end B_end A_end + (1 - w) s_start B_start A_start.
The interpolated folder is an ordinary model folder (twice the adapter rank: slightly more compute per token).

    sentimentkit interpolate START END --weight 0.5 -o DIR
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..hub import Manifest, read_manifest, resolve, write_manifest

_LORA = re.compile(r"\.lora_([ab])$")
# model settings that may differ between the two ends (the rank is rebuilt; the rest must match)
FREE_KEYS = ("lora_r", "lora_alpha", "lora_dropout", "dropout")


class InterpolationError(ValueError):
    """The two models cannot be interpolated; the message says what differs."""


def interpolate(start: str | Path, end: str | Path, weight: float, output: str | Path) -> Manifest:
    """Write the model at `weight` between `start` and `end` (shipped names or model folders) into `output` (a new
    folder) and return its manifest. Raises InterpolationError naming what differs between the two."""
    import torch
    from safetensors.torch import load_file, save_file

    from ..models.base import WEIGHTS_FILE

    if not 0.0 <= float(weight) <= 1.0 or math.isnan(float(weight)):
        raise InterpolationError(f"weight must be in [0, 1] (0: the start model, 1: the end model), got {weight!r}")
    w = float(weight)
    a, b = (read_manifest(resolve(str(m)).path) for m in (start, end))
    for m in (a, b):
        if m.kind != "model":
            raise InterpolationError(f"{m.path}: a {m.kind}; interpolate one of its model folders instead")
    if a.model_type != b.model_type or a.task != b.task:
        raise InterpolationError(f"{a.path} is a {a.model_type} ({a.task}), {b.path} a {b.model_type} ({b.task})")
    if tuple(a.labels.names) != tuple(b.labels.names):
        raise InterpolationError(f"labels differ: {list(a.labels.names)} and {list(b.labels.names)}")
    from ..models.base import config_dict, model_config

    # compared as the registered config reads them: a key an older folder lacks is at its default
    ca, cb = (config_dict(model_config(m.model)) for m in (a, b))
    differ = {
        k: (ca.get(k), cb.get(k)) for k in sorted(set(ca) | set(cb)) if k not in FREE_KEYS and ca.get(k) != cb.get(k)
    }
    if differ:
        raise InterpolationError(f"model settings differ (start, end): {differ}")
    if dict(a.preprocessing) != dict(b.preprocessing):
        raise InterpolationError(f"preprocessing differs: {dict(a.preprocessing)} and {dict(b.preprocessing)}")
    sa, sb = (load_file(str(m.path / WEIGHTS_FILE)) for m in (a, b))
    if set(sa) != set(sb):
        missing = sorted(set(sa) ^ set(sb))
        raise InterpolationError(f"the two models train different tensors: {missing[:5]}")
    lora = a.model.get("adapter") == "lora"
    scale = {
        "start": _lora_scale(a.model) if lora else 1.0,
        "end": _lora_scale(b.model) if lora else 1.0,
    }
    out: dict[str, torch.Tensor] = {}
    for key in sorted(sa):
        x, y = sa[key].float(), sb[key].float()
        match = _LORA.search(key)
        if match is None:
            if x.shape != y.shape:
                raise InterpolationError(f"{key}: shapes {tuple(x.shape)} and {tuple(y.shape)}")
            out[key] = (1 - w) * x + w * y
        elif match.group(1) == "a":  # (r, in): the end's rows, then the start's
            out[key] = torch.cat([math.sqrt(w) * y, math.sqrt(1 - w) * x], 0)
        else:  # (out, r): the matching columns, each side's scale folded in
            out[key] = torch.cat([math.sqrt(w) * scale["end"] * y, math.sqrt(1 - w) * scale["start"] * x], 1)
    model: dict[str, Any] = dict(b.model)
    if lora:
        rank = int(a.model["lora_r"]) + int(b.model["lora_r"])
        model.update(lora_r=rank, lora_alpha=float(rank))  # scale 1: the old scales live in B
    target = Path(output)
    if target.exists():
        raise FileExistsError(f"{target} exists; give a new folder for the interpolated model")
    target.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in out.items()}, str(target / WEIGHTS_FILE))
    extra = {k: v for k, v in b.extra.items() if k not in ("validation",)}
    extra["interpolated"] = {"start": str(start), "end": str(end), "weight": w}
    manifest = replace(b, path=target, model=model, extra=extra, metrics={}, calibration={})
    write_manifest(manifest, target)
    for name in ("vocab.json",):  # a model that reads its own vocabulary keeps it
        if (b.path / name).exists():
            (target / name).write_bytes((b.path / name).read_bytes())
    return read_manifest(target)


def _lora_scale(model: Any) -> float:
    return float(model.get("lora_alpha", 16.0)) / float(model["lora_r"])
