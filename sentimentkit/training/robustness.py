"""`sentimentkit evaluate MODEL DATASET --robustness`: score one or more multimodal models on corrupted copies of a
split (the protocols of `multimodal/robustness.py`: missing text/audio/vision frames at rates 0-0.9, whole-modality
drops, Gaussian noise at given SNRs, temporal shift) and write a table and one plot per protocol.

Every model sees the same corrupted clips: the masks depend on (mask seed, clip index, modality) only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any


def robustness(
    models: Sequence[str],
    dataset: str,
    split: str = "test",
    *,
    out_dir: str | Path,
    protocols: Sequence[str] | None = None,
    mask_seeds: Sequence[int] = (1111, 1112, 1113),
    data_dir: str | None = None,
    batch_size: int = 64,
    trust_pickle: bool = False,
) -> dict[str, Any]:
    """Sweep each model over the protocols; returns {"rows": {model: rows (JSON-ready)}, "files": {kind: path}}."""
    from ..hub import read_manifest, resolve
    from ..models.base import Runtime
    from ..multimodal.robustness import PROTOCOLS, public_rows, sweep, write_report
    from ..tasks.base import TASKS

    chosen = list(protocols or PROTOCOLS)
    unknown = sorted(set(chosen) - set(PROTOCOLS))
    if unknown:
        raise ValueError(f"unknown robustness protocol(s) {unknown}; known: {sorted(PROTOCOLS)}")
    results: dict[str, list[dict]] = {}
    names: dict[str, int] = {}
    for model in models:
        manifest = read_manifest(resolve(str(model)).path)
        if manifest.task != "multimodal-regression.v1":
            raise ValueError(f"{model}: a {manifest.task} model; --robustness is for multimodal models")
        task, module = TASKS.get(manifest.task).from_manifest(manifest, Runtime("transformers"))
        task.data = replace(task.data, trust_pickle=trust_pickle)
        examples = [x for x in task.examples(dataset, split, data_dir) if x.label is not None]
        task.check_clip_dims(examples)
        items = task.encode(examples)
        truth = [x.label for x in examples]

        def predict(corrupted: Sequence[Any], task: Any = task, module: Any = module) -> Any:
            return task.predict_values(module, corrupted, batch_size)

        label = _label(model, names)
        results[label] = sweep(predict, items, truth, chosen, mask_seeds=mask_seeds, unk_id=task.tokenizer.unk_token_id)
    files = write_report(results, Path(out_dir))
    return {"rows": {k: public_rows(v) for k, v in results.items()}, "files": {k: str(v) for k, v in files.items()}}


def _label(model: str, seen: dict[str, int]) -> str:
    """A short name for a model in tables and plots: its folder (runs/almt/seed1/best -> almt/seed1/best)."""
    parts = Path(model).parts
    label = "/".join(parts[-3:]) if len(parts) > 1 else model
    seen[label] = seen.get(label, 0) + 1
    return label if seen[label] == 1 else f"{label}#{seen[label]}"
