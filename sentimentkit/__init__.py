"""sentimentkit: offline sentiment analysis, from training to serving.

    import sentimentkit
    nlp = sentimentkit.load("sentiment-en")
    nlp(["The battery life is great.", "The screen is dim."])  # -> list[Prediction]
    absa = sentimentkit.load("absa-en")
    absa("The battery life is great but the screen is dim.")  # -> [[AspectPrediction(battery life ...), ...]]

Importing the package does no work: torch and transformers load on the first `load`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
DEFAULT_MODEL = "sentiment-en"

if TYPE_CHECKING:
    from .inference.aspects import AspectPipeline
    from .inference.pipeline import Pipeline
    from .types import Prediction

_cache: dict[str, Pipeline] = {}


def load(
    name_or_path: str = DEFAULT_MODEL, batch_size: int = 32, merge_adapters: bool = False, aspects: str | None = None
) -> Pipeline | AspectPipeline:
    """A pipeline for a shipped model name (see `available_models()`) or a saved model directory.

    A document model gives a `Pipeline` (texts -> Prediction); with `aspects="absa-en"` (or another aspect model)
    each Prediction also carries the text's aspects. An aspect model itself (`load("absa-en")`) gives an
    `AspectPipeline` (texts, optional aspect terms -> AspectPrediction lists).
    `merge_adapters=True` folds LoRA adapters into the weights (slower to load, faster on large inputs).
    """
    from .hub import ModelNotFoundError, resolve
    from .inference.aspects import AspectPipeline, is_aspect_model
    from .inference.pipeline import Pipeline

    resolved = resolve(name_or_path)
    if resolved.kind in {"backbone", "hub"}:
        raise ModelNotFoundError(
            f"{name_or_path!r} is a pretrained encoder, not a sentiment model; train one with "
            "`sentimentkit train CONFIG.yaml` or load a shipped model: " + ", ".join(available_models())
        )
    if is_aspect_model(resolved.path):
        if aspects is not None:
            raise ValueError(f"{name_or_path!r} is an aspect model already; `aspects` goes with a document model")
        return AspectPipeline.from_pretrained(resolved.path, batch_size=batch_size, merge_adapters=merge_adapters)
    aspect_pipeline = None
    if aspects is not None:
        aspect_pipeline = load(aspects, batch_size=batch_size, merge_adapters=merge_adapters)
        if not isinstance(aspect_pipeline, AspectPipeline) or not aspect_pipeline.can_extract:
            raise ValueError(f"aspects={aspects!r} is not an aspect model with an extractor (such as 'absa-en')")
    pipeline = Pipeline.from_pretrained(resolved.path, batch_size=batch_size, merge_adapters=merge_adapters)
    pipeline.aspects = aspect_pipeline
    return pipeline


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
