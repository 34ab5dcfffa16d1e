"""sentimentkit: offline sentiment analysis, from training to serving.

    import sentimentkit
    nlp = sentimentkit.load("sentiment-en")
    nlp(["The battery life is great.", "The screen is dim."])  # -> list[Prediction]
    absa = sentimentkit.load("absa-en")
    absa("The battery life is great but the screen is dim.")[0].aspects  # -> (AspectPrediction(battery life ...), ...)

Importing the package does no work: torch and transformers load on the first `load`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

__version__ = "0.1.0"  # the one place the version is written; pyproject.toml reads it from here
DEFAULT_MODEL = "sentiment-en"

if TYPE_CHECKING:
    from .encoders.pool import Runtime
    from .inference.pipeline import Pipeline
    from .types import Prediction


def load(
    name_or_path: str = DEFAULT_MODEL,
    batch_size: int = 32,
    merge_adapters: bool = False,
    aspects: str | None = None,
    runtime: Runtime | None = None,
    backend: str | None = None,
) -> Pipeline:
    """A pipeline for a shipped model name (see `available_models()`) or a saved model directory.

    `pipeline(texts)` gives one `Prediction` per text. A document model gives the label, probabilities and, where
    its labels have them, polarity and score; with `aspects="absa-en"` (or another aspect model with an
    extractor) each prediction also carries the text's aspects. An aspect model itself (`load("absa-en")`)
    fills `Prediction.aspects` only (its terms, or yours: `pipeline(texts, aspects=["screen"])`).
    `merge_adapters=True` folds LoRA adapters into private backbone copies (slower to load, more memory, faster
    on large inputs); by default the models of one `load` share one backbone. `backend`: "auto" (the default, or
    $SENTIMENTKIT_BACKEND) runs a shipped model on ONNX Runtime from a copy compiled once into a cache folder,
    without importing torch; "torch" runs the checkpoint; "onnx" compiles any model folder on first use.
    """
    from .inference.pipeline import Pipeline

    return Pipeline.load(
        name_or_path,
        runtime=runtime,
        batch_size=batch_size,
        aspects=aspects,
        merge_adapters=merge_adapters,
        backend=backend,
    )


@functools.lru_cache(maxsize=4)
def _cached(model: str) -> Pipeline:
    return load(model)


def analyze(texts: str | list[str], model: str = DEFAULT_MODEL) -> list[Prediction]:
    """Predict with a cached pipeline (loaded on first use; the four most recently used models are kept)."""
    return _cached(model)(texts)


def available_models() -> list[str]:
    """Names of the models shipped inside the package."""
    from .hub import shipped_models

    return shipped_models()


__all__ = ["DEFAULT_MODEL", "analyze", "available_models", "load"]
