"""sentimentkit: offline sentiment analysis, from training to serving.

    import sentimentkit
    nlp = sentimentkit.load("sentiment-en")
    nlp(["The battery life is great.", "The screen is dim."])  # -> list[Prediction]

Importing the package does no work: torch and transformers load on the first `load`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
DEFAULT_MODEL = "sentiment-en"

if TYPE_CHECKING:
    from .inference.pipeline import Pipeline
    from .types import Prediction

_cache: dict[str, Pipeline] = {}


def load(name_or_path: str = DEFAULT_MODEL, batch_size: int = 32, merge_adapters: bool = False) -> Pipeline:
    """A pipeline for a shipped model name (see `available_models()`) or a saved model directory.

    `merge_adapters=True` folds LoRA adapters into the weights (slower to load, faster on large inputs).
    """
    from .hub import ModelNotFoundError, resolve
    from .inference.pipeline import Pipeline

    resolved = resolve(name_or_path)
    if resolved.kind in {"backbone", "hub"}:
        raise ModelNotFoundError(
            f"{name_or_path!r} is a pretrained encoder, not a sentiment model; train one with "
            "`sentimentkit train CONFIG.yaml` or load a shipped model: " + ", ".join(available_models())
        )
    return Pipeline.from_pretrained(resolved.path, batch_size=batch_size, merge_adapters=merge_adapters)


def analyze(texts: str | list[str], model: str = DEFAULT_MODEL) -> list[Prediction]:
    """Predict with a cached pipeline (loaded on first use)."""
    if model not in _cache:
        _cache[model] = load(model)
    return _cache[model](texts)


def available_models() -> list[str]:
    """Names of the models shipped inside the package."""
    from .hub import shipped_models

    return shipped_models()


__all__ = ["DEFAULT_MODEL", "analyze", "available_models", "load"]
