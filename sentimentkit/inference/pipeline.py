"""Pipeline: inputs in, one `Prediction` per input out, for every task. It uses the task's own encoding (the code
that training used), so inference cannot drift from training.

`Pipeline.load` reads a model folder's manifest, picks its task from `TASKS`, and loads the model on a `Runtime`
(by default the plain-torch BERT with one shared backbone for every model it loads: a document model with its
aspect model holds one MiniLM, not three). Loaded pipelines are re-entrant: threads may call one concurrently.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ..encoders.pool import Runtime, inference_runtime
from ..hub import Manifest, ModelNotFoundError, read_manifest, resolve, shipped_models
from ..labels import LabelSet
from ..tasks.base import TASKS, Task
from ..types import AspectPrediction, Prediction, Span, TextExample
from .compiled import CompileError, chosen_backend, compiled_folder

Inputs = str | Sequence[str] | Sequence[TextExample]


class Pipeline:
    """A loaded model and its task. `pipeline(texts)` -> list[Prediction] (aspects filled for aspect models, and
    for a document model loaded with `aspects=`)."""

    def __init__(
        self,
        manifest: Manifest,
        task: Task,
        model: Any,
        batch_size: int = 32,
        aspects: Pipeline | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.manifest, self.task, self.model, self.batch_size = manifest, task, model, batch_size
        self.aspect_pipeline = aspects  # an aspect pipeline whose predictions fill Prediction.aspects
        self.runtime = runtime or Runtime("native")
        self.source = str(manifest.path)  # the name or folder it was loaded from (a compiled copy's source model)

    @property
    def backend(self) -> str:
        """ "onnx" when the graph runs on ONNX Runtime (an exported folder or a compiled copy), else "torch"."""
        return "onnx" if self.manifest.onnx is not None else "torch"

    @classmethod
    def load(
        cls,
        name_or_path: str,
        *,
        runtime: Runtime | None = None,
        batch_size: int = 32,
        aspects: str | None = None,
        merge_adapters: bool = False,
        backend: str | None = None,
    ) -> Pipeline:
        """A shipped model name (see `sentimentkit.available_models()`) or a model directory.

        aspects: an aspect model (such as "absa-en") whose aspects each prediction also carries. runtime: how to
        run (default: native BERT, one backbone shared by every model this call loads). merge_adapters: fold
        LoRA adapters into private copies of the backbone instead (slower to load and more memory, faster on
        large inputs). bf16: `runtime=inference_runtime(dtype="bf16")` scores under torch.autocast(bfloat16). A
        folder written by `sentimentkit export --format onnx` runs with ONNX Runtime, without importing torch.
        backend: "auto" (default; also $SENTIMENTKIT_BACKEND) runs a shipped model on ONNX Runtime from a copy
        compiled once into a cache folder, "torch" the torch checkpoint, "onnx" a compiled copy of any model
        folder (`inference/compiled.py`). An explicit `runtime` means torch.
        """
        choice = chosen_backend(backend)
        if runtime is not None and backend is None and choice == "auto":  # a torch runtime asked for
            choice = "torch"
        if runtime is None:
            runtime = inference_runtime(share=not merge_adapters)
        source = str(name_or_path)
        manifest = _manifest(name_or_path)
        if manifest.onnx is None and choice != "torch":
            manifest = _compiled(name_or_path, manifest, choice)
        attached = None
        if aspects is not None:
            if manifest.task in ASPECT_TASKS:
                raise ValueError(f"{name_or_path!r} is an aspect model already; `aspects` goes with a document model")
            attached = cls.load(
                aspects, runtime=runtime, batch_size=batch_size, merge_adapters=merge_adapters, backend=choice
            )
            if attached.manifest.task not in ASPECT_TASKS or not attached.can_extract:
                raise ValueError(f"aspects={aspects!r} is not an aspect model with an extractor (such as 'absa-en')")
        if manifest.onnx is not None:  # an exported folder: ONNX Runtime, no torch
            from .onnx import load_onnx

            task, model = load_onnx(manifest, runtime)
        else:
            task, model = TASKS.get(manifest.task).from_manifest(manifest, runtime)
            if merge_adapters:
                _merge(model)
        pipeline = cls(manifest, task, model, batch_size, attached, runtime)
        pipeline.source = source
        return pipeline

    @classmethod
    def from_pretrained(cls, directory: str, batch_size: int = 32, merge_adapters: bool = False) -> Pipeline:
        """The same as `load` (kept for callers of the first release)."""
        return cls.load(str(directory), batch_size=batch_size, merge_adapters=merge_adapters)

    @property
    def labels(self) -> LabelSet:
        return self.task.labels

    @property
    def can_extract(self) -> bool:
        """Whether this pipeline finds aspects by itself (an aspect model with an extractor)."""
        return getattr(self.task, "extractor", None) is not None

    def __call__(
        self,
        inputs: Inputs,
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
        language: bool = True,
        **options: Any,
    ) -> list[Prediction]:
        """One Prediction per input, in order. A single string gives a one-element list.

        Each prediction carries the detected language of its text, and a warning when the text is clearly in
        another language than the model reads (`inference/language.py`); `language=False` skips the detection.
        Options by task: text classification `long_texts="truncate" | "chunks"`; aspect models `aspects=[...]`
        (terms to score in every text, or one list per text; default: extract them).
        """
        # a task with inputs of its own kind (multimodal clips) converts them; text tasks take strings
        examples = self.task.as_inputs(inputs) if hasattr(self.task, "as_inputs") else as_examples(inputs)
        if not examples:
            return []
        size = batch_size or self.batch_size
        doc_options = {k: v for k, v in options.items() if not (self.aspect_pipeline is not None and k == "aspects")}
        with self._precision():
            predictions = self.task.predict(self.model, examples, size, on_batch=on_batch, **doc_options)
        if self.aspect_pipeline is not None:
            found = self.aspect_pipeline(
                examples, batch_size=batch_size, aspects=options.get("aspects"), language=False
            )
            predictions = [
                replace(p, aspects=a.aspects, warnings=p.warnings + a.warnings) if p.error is None else p
                for p, a in zip(predictions, found, strict=True)
            ]
        return with_language(predictions, self.manifest.language) if language else predictions

    def _precision(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast for a torch model on a bf16 runtime (thread-local: concurrent calls do not interfere)."""
        if self.runtime.dtype != "bf16" or self.manifest.onnx is not None:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(self.runtime.device.split(":")[0], dtype=torch.bfloat16)

    def stream(
        self, inputs: Iterable[str | TextExample], batch_size: int | None = None, **options: Any
    ) -> Iterator[Prediction]:
        """Predictions for an iterable of any length, yielded in input order as each chunk of inputs is scored."""
        size = batch_size or self.batch_size
        chunk: list[str | TextExample] = []
        for item in inputs:
            chunk.append(item)
            if len(chunk) >= size * 8:  # a few batches at a time: sorting by length still pays, memory stays flat
                yield from self(chunk, batch_size=size, **options)
                chunk = []
        if chunk:
            yield from self(chunk, batch_size=size, **options)

    def extract(self, texts: str | Sequence[str]) -> list[list[Span]]:
        """The aspect term spans of each text (no polarity); needs an aspect model with an extractor."""
        if not self.can_extract:
            raise ValueError(f"{self.manifest.path} has no aspect extractor")
        from ..tasks.aspect import _extract

        with self._precision():
            found = _extract(self.task.extractor, self.model.extractor, _texts(texts), self.batch_size)
        return [sorted(x) for x in found]


class AspectPipeline(Pipeline):
    """The first release's aspect pipeline: `pipeline(texts)` -> one list of AspectPrediction per text.

    Kept for one release; `sentimentkit.load("absa-en")` now returns a `Pipeline` whose predictions carry
    their aspects.
    """

    def __call__(  # type: ignore[override]
        self,
        texts: Inputs,
        aspects: Sequence[str] | Sequence[Sequence[str]] | None = None,
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[list[AspectPrediction]]:
        predictions = super().__call__(texts, batch_size=batch_size, on_batch=on_batch, aspects=aspects, language=False)
        return [list(p.aspects) for p in predictions]


ASPECT_TASKS = ("aspect-sentiment.v1", "aspect-polarity.v1")


def as_examples(inputs: Inputs | Iterable[str | TextExample]) -> list[TextExample]:
    """Strings and TextExamples -> TextExamples (TypeError names the position of anything else)."""
    if isinstance(inputs, str | TextExample):
        inputs = [inputs]
    out = []
    for i, x in enumerate(inputs):
        if isinstance(x, str):
            out.append(TextExample(text=x))
        elif isinstance(x, TextExample):
            out.append(x)
        else:
            raise TypeError(f"input {i} is a {type(x).__name__}; expected str or TextExample")
    return out


def with_language(predictions: Sequence[Prediction], model_language: str) -> list[Prediction]:
    """The predictions with their text's detected language, and a warning on text that is decisively in another
    language than `model_language` (blank inputs, which carry an error, are left as they are)."""
    from .language import detect, language_warning

    scored = [i for i, p in enumerate(predictions) if p.error is None]
    out = list(predictions)
    for i, found in zip(scored, detect([predictions[i].text for i in scored]), strict=True):
        warning = language_warning(found, model_language)
        out[i] = replace(out[i], language=found.code, warnings=out[i].warnings + ((warning,) if warning else ()))
    return out


def _texts(texts: str | Sequence[str]) -> list[str]:
    return [x.text for x in as_examples(texts)]


def _manifest(name_or_path: str) -> Manifest:
    resolved = resolve(name_or_path)
    if resolved.kind in {"backbone", "hub"}:
        raise ModelNotFoundError(
            f"{name_or_path!r} is a pretrained encoder, not a sentiment model; train one with "
            "`sentimentkit train CONFIG.yaml` or load a shipped model: " + ", ".join(shipped_models())
        )
    return read_manifest(resolved.path)


def _compiled(name_or_path: str, manifest: Manifest, choice: str) -> Manifest:
    """The manifest of the model's compiled ONNX copy, or `manifest` itself where "auto" keeps it on torch."""
    if choice == "auto" and resolve(name_or_path).kind != "shipped":
        return manifest
    try:
        return read_manifest(compiled_folder(name_or_path, manifest))
    except CompileError as err:
        if choice == "onnx":
            raise
        warnings.warn(f"{err}; running {name_or_path} on torch", RuntimeWarning, stacklevel=4)
        return manifest


def _merge(model: Any) -> None:
    """Fold LoRA into the weights of every encoder of `model` (a module, or a bundle's parts)."""
    parts = [model] if not hasattr(model, "polarity") else [model.polarity, model.extractor]
    for part in parts:
        if part is None:
            continue
        for module in part.modules():
            if hasattr(module, "merge_adapters"):
                module.merge_adapters()
