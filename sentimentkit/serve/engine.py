"""`Engine`: the models a service instance runs (loaded once, one shared backbone) and, optionally, its store.

It turns one coalesced batch (texts with equal `Options`) into predictions, in the inference thread, and writes
them to the store there too, so that a request is answered only once its predictions are stored: a failed write
fails the batch (`StoreWriteError`, answered 503 so that clients retry; the store is idempotent by id, so a
retry adds nothing twice).
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..inference.pipeline import Pipeline
from ..types import Prediction, TextExample
from .settings import ServeSettings

log = logging.getLogger(__name__)


class StoreWriteError(RuntimeError):
    """The store refused or failed a write; the batch's requests are answered 503 (retry)."""


@dataclass(frozen=True)
class Options:
    """What to do with a batch; requests are coalesced only when their options are equal."""

    task: Literal["analyze", "aspects"] = "analyze"
    aspects: bool = False
    aspect_terms: tuple[str, ...] | None = None
    long_texts: str = "truncate"


def load_pipeline(settings: ServeSettings) -> Pipeline:
    """The document model with the aspect model attached (both on one shared backbone)."""
    return Pipeline.load(settings.model, aspects=settings.aspect_model, batch_size=settings.pipeline_batch_size)


def open_store(url: str) -> Any:
    """The SQL store at `url` (imported here: SQLAlchemy loads only for a service started with --store)."""
    from ..store import Store

    return Store(url)


def content_id(text: str) -> str:
    """The store id of a text sent without an id: the same text is the same document, never another's."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class Engine:
    """The loaded pipelines and the store. `pipeline` is a document pipeline, optionally with an aspect pipeline
    attached (`pipeline.aspect_pipeline`); a document-only view of it shares its weights."""

    def __init__(
        self,
        pipeline: Any,
        settings: ServeSettings,
        store: Any | None = None,
        on_store_error: Callable[[], None] | None = None,
    ) -> None:
        self.settings, self.store, self._on_store_error = settings, store, on_store_error
        self.full = pipeline
        self.aspect_pipeline = getattr(pipeline, "aspect_pipeline", None)
        if self.aspect_pipeline is None:
            self.document = pipeline
        else:  # the same models without the aspect step, for requests that do not want aspects
            self.document = copy.copy(pipeline)
            self.document.aspect_pipeline = None

    @property
    def model_name(self) -> str:
        return self.settings.model

    @property
    def aspect_model_name(self) -> str | None:
        return self.settings.aspect_model if self.aspect_pipeline is not None else None

    @property
    def has_aspects(self) -> bool:
        return self.aspect_pipeline is not None

    @property
    def labels(self) -> Any:
        return getattr(self.document, "labels", None)

    def run(self, examples: Sequence[TextExample], options: Options) -> list[Prediction]:
        """Predictions for one batch (in the inference thread), written to the store when there is one."""
        terms = list(options.aspect_terms) if options.aspect_terms is not None else None
        models: dict[str, str] = {"model": self.settings.model}  # who labelled them, for the store
        if options.task == "aspects":
            if self.aspect_pipeline is None:
                raise ValueError("this server has no aspect model")
            predictions = self.aspect_pipeline(list(examples), aspects=terms)
            models = {"model": self.settings.aspect_model or self.settings.model}
        elif options.aspects:
            predictions = self.full(list(examples), long_texts=options.long_texts, aspects=terms)
            if self.settings.aspect_model is not None:
                models["aspect_model"] = self.settings.aspect_model
        else:
            predictions = self.document(list(examples), long_texts=options.long_texts)
        if self.store is not None:
            try:
                self.store.write(predictions, source="api", **models)
            except Exception as err:
                log.error("store write of %d predictions failed: %s: %s", len(predictions), type(err).__name__, err)
                if self._on_store_error is not None:
                    self._on_store_error()
                raise StoreWriteError("the results could not be stored; nothing was kept, try again") from err
        return predictions

    def describe(self, pipeline: Any, name: str) -> dict[str, Any]:
        """Name, task, labels and description of a loaded pipeline (for GET /v1/models)."""
        manifest = getattr(pipeline, "manifest", None)
        labels = getattr(pipeline, "labels", None)
        return {
            "name": name,
            "task": getattr(manifest, "task", None),
            "labels": list(getattr(labels, "names", ()) or ()),
            "description": getattr(manifest, "description", None) or None,
        }

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
