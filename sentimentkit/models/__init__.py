"""Models. Importing this package registers every built-in model in `MODELS`."""

from . import document
from .base import MODELS, build_model, load_checkpoint, save_checkpoint

__all__ = ["MODELS", "build_model", "document", "load_checkpoint", "save_checkpoint"]
