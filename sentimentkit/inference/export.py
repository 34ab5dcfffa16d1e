"""Export a model (or an aspect bundle) to a self-contained ONNX model folder that loads without torch.

The folder holds config.json (the source's manifest with an "onnx" section: graph file, opset, precision, the
optimisations applied and a parity check), tokenizer.json and model.onnx; a bundle holds one such folder per
component. `sentimentkit.load(folder)` runs it with ONNX Runtime (`inference/onnx.py`).

The graph is the scoring forward of the torch model: `torch.onnx.export` of the model on one padded batch, with
dynamic batch and sequence axes. The backbone runs through transformers' BERT with eager attention, whose graph
onnxruntime's transformer optimizer fuses (attention, embedding + LayerNorm, skip-LayerNorm, bias-GELU); LoRA
adapters are merged first. `int8=True` then quantizes the weights dynamically (QInt8, per output channel).
"""

from __future__ import annotations

import io
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.align import word_spans
from ..data.collate import padded_arrays
from ..data.tagging import encode_words
from ..encoders.pool import Runtime
from ..hub import ONNX_KEY, Manifest, ManifestError, read_manifest, resolve, write_manifest
from ..types import AspectExample, TextExample
from .onnx import GRAPH_FILE, TOKENIZER_FILE, OnnxModel
from .pipeline import Pipeline, _manifest

DEFAULT_OPSET = 17
MOE_NOTE = (
    ". Mixture-of-experts layers route tokens with data-dependent shapes (argsort, bincount), which a traced graph"
    " cannot hold"
)
# What the TorchScript exporter prints from C++ (past Python's warning filters) about graphs it still exports
# correctly: packed LSTM sequences have no shape-inference rule (the exported LSTM's outputs are checked against
# torch after export, so the missing rule costs nothing). Other lines the exporter prints pass through.
HARMLESS_EXPORT_OUTPUT = re.compile(r"shape inference of prim::(PackPadded|PadPacked) type is missing")
# Sentences the graph is traced on and checked against torch: lengths differ, so padding is exercised.
SAMPLES = (
    "The battery life is great but the screen is far too dim for reading outside.",
    "Terrible service.",
    "The food was fine, nothing special, and the staff were friendly enough.",
    "I loved the camera.",
)


def export_onnx(
    name_or_path: str,
    output: str | Path,
    *,
    int8: bool = False,
    optimize: bool = True,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export a shipped model name or model folder to `output` (created; must be empty if it exists).

    optimize: apply onnxruntime's transformer fusion (model_type "bert") where the graph has a BERT backbone.
    int8: dynamic int8 quantization of the weights after fusion. Returns the folder.
    """
    if opset < 17:
        raise ValueError(f"opset {opset}: the exported graphs need opset 17 or newer (LayerNormalization)")
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise FileExistsError(f"{output} exists and is not an empty folder; choose a new output folder")
    source = _manifest(name_or_path)
    if source.onnx is not None:
        raise ValueError(f"{name_or_path} is an exported ONNX folder already; export its torch source instead")
    # transformers' BERT: its eager attention is the graph onnxruntime's optimizer fuses; LoRA merged into it
    pipeline = Pipeline.load(name_or_path, runtime=Runtime("transformers"), merge_adapters=True)
    settings = {"int8": int8, "optimize": optimize, "opset": opset, "source": name_or_path}
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    try:
        _export(source, pipeline, output, settings)
    except BaseException:
        shutil.rmtree(output)  # no half-written folder is left behind (an empty one given stays, empty)
        if not created:
            output.mkdir()
        raise
    return output


def _export(source: Manifest, pipeline: Pipeline, output: Path, settings: dict[str, Any]) -> None:
    if source.kind == "bundle":
        sections = {}
        for role in source.components:
            # the bundle's task and models hold their parts under the role names ("extractor", "polarity")
            task, model = getattr(pipeline.task, role), getattr(pipeline.model, role)
            part = _component_manifest(source, role)
            sections[role] = _export_part(task, model, part, output / source.components[role], settings)
        section = {
            "precision": "int8" if settings["int8"] else "fp32",
            "components": {role: s["optimizations"] for role, s in sections.items()},
            "exported_from": settings["source"],
        }
        write_manifest(replace(source, path=output, extra={**source.extra, ONNX_KEY: section}), output)
        return
    _export_part(pipeline.task, pipeline.model, source, output, settings)


def _component_manifest(bundle: Manifest, role: str) -> Manifest:
    folder = bundle.component(role)
    if folder is None:
        raise ManifestError(f"{bundle.path}/config.json: no {role!r} component")
    return read_manifest(folder)


def _export_part(task: Any, model: Any, source: Manifest, folder: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Write one exported model folder; returns its onnx section."""
    folder.mkdir(parents=True, exist_ok=True)
    items = SAMPLE_ITEMS[task.name](task)
    arrays = padded_arrays(items)
    names = list(arrays)
    batch_cls = type(task.collate(items))
    _eager_attention(model)
    graph = _Graph(model, batch_cls, names).eval()
    inputs = tuple(torch.from_numpy(arrays[n]) for n in names)
    with torch.inference_mode():
        reference = graph(*inputs).float().numpy()
    axes = {n: ({0: "batch", 1: "sequence", 2: "sequence"} if n == "adjacency" else {0: "batch", 1: "sequence"})
            for n in names}  # fmt: skip
    axes["logits"] = {0: "batch", 1: "sequence"} if reference.ndim == 3 else {0: "batch"}
    optimizations: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp, "raw.onnx")
        _trace(graph, inputs, raw, names, axes, settings["opset"], source)
        current = raw
        shape = _attention_shape(model)
        if settings["optimize"] and shape is not None:
            current, note = _fuse(raw, Path(tmp, "fused.onnx"), *shape)
            optimizations.append(note)
        if settings["int8"]:
            current = _quantize(current, Path(tmp, "int8.onnx"))
            optimizations.append("dynamic int8 quantization: QInt8 weights per output channel, activations at run time")
        shutil.copy(current, folder / GRAPH_FILE)
    _copy_tokenizer(source, folder)
    check = OnnxModel(folder / GRAPH_FILE).forward_items(items).logits
    section = {
        "file": GRAPH_FILE,
        "opset": settings["opset"],
        "precision": "int8" if settings["int8"] else "fp32",
        "inputs": names,
        "outputs": ["logits"],
        "optimizations": optimizations,
        "exported_from": settings["source"],
        "check": {"max_abs_logit_diff": float(np.abs(check - reference).max()), "sentences": len(items)},
        "versions": {"torch": torch.__version__, "onnxruntime": _version("onnxruntime")},
    }
    preprocessing = {**task.preprocessing(), **(task.encoding() if hasattr(task, "encoding") else {})}
    manifest = replace(source, path=folder, preprocessing=preprocessing, extra={**source.extra, ONNX_KEY: section})
    write_manifest(manifest, folder)
    return section


class _Graph(nn.Module):
    """The model's scoring forward on positional tensors (what torch.onnx.export traces): inputs -> logits."""

    def __init__(self, model: nn.Module, batch_cls: type, names: Sequence[str]) -> None:
        super().__init__()
        self.model, self.batch_cls, self.names = model, batch_cls, list(names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(self.batch_cls(**dict(zip(self.names, inputs, strict=True)))).logits


def _trace(
    graph: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    out: Path,
    names: list[str],
    axes: dict[str, dict[int, str]],
    opset: int,
    source: Manifest,
) -> None:
    """torch.onnx.export (TorchScript tracing) of `graph`; ValueError naming the model when it does not trace."""
    from wurlitzer import pipes

    printed, printed_err = io.StringIO(), io.StringIO()  # what the exporter's C++ code prints (file descriptors 1, 2)
    try:
        with warnings.catch_warnings(), pipes(stdout=printed, stderr=printed_err):
            # the TorchScript exporter warns that it is legacy, and traces python-side shape checks of
            # transformers' mask code as constants (they hold for every input here: the mask is as long as the ids)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph, inputs, str(out), input_names=names, output_names=["logits"], dynamic_axes=axes,
                opset_version=opset, dynamo=False,
            )  # fmt: skip
    except Exception as err:  # the exporter raises several error types, all meaning "this graph does not trace"
        why = MOE_NOTE if "moe" in source.model_type else ""
        raise ValueError(
            f"{source.path}: a {source.model_type!r} model does not export to ONNX ({type(err).__name__}: {err}){why}"
        ) from err
    finally:
        _pass_through(printed.getvalue(), sys.stdout)
        _pass_through(printed_err.getvalue(), sys.stderr)


def _pass_through(text: str, stream: Any) -> None:
    """Write what the exporter printed from C++ to `stream`, less the lines known to be harmless (see
    HARMLESS_EXPORT_OUTPUT)."""
    kept = [line for line in text.splitlines(keepends=True) if not HARMLESS_EXPORT_OUTPUT.search(line)]
    if kept:
        stream.write("".join(kept))
        stream.flush()


def _eager_attention(model: Any) -> None:
    """Switch transformers backbones to eager attention: the pattern onnxruntime's BERT fusion recognises."""
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = "eager"


def _attention_shape(model: Any) -> tuple[int, int] | None:
    """(heads, hidden size) of the model's BERT backbone, or None when it has none (no fusion then)."""
    for module in model.modules():
        config = getattr(module, "config", None)
        if getattr(config, "model_type", None) == "bert":
            return int(config.num_attention_heads), int(config.hidden_size)
    return None


def _fuse(raw: Path, out: Path, heads: int, hidden: int) -> tuple[Path, str]:
    """onnxruntime's transformer optimizer on the graph; returns the graph to use and what was fused."""
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden)
    counts = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    if not counts:
        return raw, "transformer fusion (onnxruntime.transformers, bert): nothing to fuse in this graph"
    fused.save_model_to_file(str(out))
    done = ", ".join(f"{name} x{n}" for name, n in sorted(counts.items()))
    return out, f"transformer fusion (onnxruntime.transformers, bert): {done}"


def _quantize(graph: Path, out: Path) -> Path:
    import logging

    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # fused operators (Attention, SkipLayerNormalization) are in Microsoft's domain, where ONNX's shape inference
    # finds no types: say that unknown tensors are float; the quantizer's advice to pre-process is logged, not needed
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(graph), str(out), weight_type=QuantType.QInt8, per_channel=True,
            nodes_to_exclude=_after_gelu(graph), extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )  # fmt: skip
    finally:
        root.setLevel(level)
    return out


def _after_gelu(graph: Path) -> list[str]:
    """The MatMuls that read a GELU's output (each feed-forward block's output projection), kept in float32.

    Dynamic quantization gives each activation tensor one uint8 range per call; GELU outputs are the long-tailed
    ones, and on sentiment-en (v3) quantizing the six projections that read them cost most of the label
    agreement: 0.942 -> 0.963 against fp32 on the 2210 SST-5 test sentences when they stay float32, for about 16 %
    of int8's throughput."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    gelu = {"Gelu", "BiasGelu", "FastGelu"}
    made_by = {out: node for node in model.graph.node for out in node.output}
    return [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul"
        and node.input
        and (
            (made_by.get(node.input[0]) is not None and made_by[node.input[0]].op_type in gelu)
            or "intermediate_act_fn" in node.input[0]
        )
    ]


def _copy_tokenizer(source: Manifest, folder: Path) -> None:
    backbone = str((source.model or {}).get("backbone", "minilm"))
    tokenizer = Path(resolve(backbone).path) / TOKENIZER_FILE
    if not tokenizer.exists():
        raise ValueError(
            f"{source.path}: its backbone {backbone!r} has no {TOKENIZER_FILE}; only models over a backbone with a "
            "fast (tokenizers) BERT tokenizer export"
        )
    shutil.copy(tokenizer, folder / TOKENIZER_FILE)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


# --- sample items per task: encoded by the task's own code, as inference encodes ------------------------------


def _text_items(task: Any) -> list[Any]:
    return task.encode([TextExample(text=t) for t in SAMPLES])


def _tag_items(task: Any) -> list[Any]:
    return encode_words(task.tokenizer, SAMPLES, [word_spans(t) for t in SAMPLES], None, task.labels, task.max_length)


def _aspect_items(task: Any) -> list[Any]:
    aspects = ("battery life", "service", "staff", "camera")
    examples = []
    for text, aspect in zip(SAMPLES, aspects, strict=True):
        start = text.index(aspect)
        examples.append(AspectExample(text=text, aspect=aspect, spans=((start, start + len(aspect)),)))
    return task.encode(examples, raw_text=True)


SAMPLE_ITEMS: dict[str, Callable[[Any], list[Any]]] = {
    "text-classification.v1": _text_items,
    "aspect-extraction.v1": _tag_items,
    "aspect-polarity.v1": _aspect_items,
}
