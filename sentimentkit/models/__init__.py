"""Models. Importing this package registers every built-in model in `MODELS`."""

from . import bilstm, document, moe, prompt
from .base import MODELS, build_model, load_checkpoint, save_checkpoint

__all__ = [
    "MODELS",
    "bilstm",
    "build_model",
    "document",
    "load_checkpoint",
    "moe",
    "prompt",
    "save_checkpoint",
]
