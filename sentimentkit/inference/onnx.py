"""Run an exported model folder (`sentimentkit export MODEL --format onnx`) with ONNX Runtime, without torch.

The folder holds its manifest (config.json with an "onnx" section), its tokenizer (tokenizer.json) and its graph
(model.onnx). Loading it builds the same task as the torch checkpoint it came from (`Task.for_inference`), so the
encoding, the long-text handling and the decoding into `Prediction`s are the code the torch path runs; only the
forward pass differs: `OnnxModel` pads the items with numpy (`data.collate.padded_arrays`) and runs the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..data.collate import padded_arrays
from ..encoders.pool import Runtime
from ..encoders.tokenizer import FastTokenizer
from ..hub import Manifest, ManifestError
from ..tasks.base import TASKS, ArrayOutput

GRAPH_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


class OnnxModel:
    """One ONNX graph in an ONNX Runtime session: items -> padded numpy inputs -> logits. Thread-safe (sessions
    may run concurrently)."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [x.name for x in self.session.get_inputs()]

    def forward_items(self, items: Sequence[Any]) -> ArrayOutput:
        arrays = padded_arrays(items)
        missing = [name for name in self.input_names if name not in arrays]
        if missing:
            raise ValueError(f"{self.path} takes {missing}, which these items do not have (encoded without a parse?)")
        (logits,) = self.session.run(["logits"], {name: arrays[name] for name in self.input_names})
        return ArrayOutput(logits)


def load_onnx(manifest: Manifest, runtime: Runtime) -> tuple[Any, Any]:
    """The task and model(s) of an exported folder: a model folder, or a bundle of exported components."""
    if runtime.dtype != "fp32":
        raise ValueError(
            f"{manifest.path} is an exported ONNX model; it runs at the precision it was exported with "
            f"({(manifest.onnx or {}).get('precision', 'fp32')}), not dtype={runtime.dtype!r}"
        )
    if manifest.kind == "bundle":
        return TASKS.get(manifest.task).assemble(manifest, lambda part: _load_part(part, runtime))
    return _load_part(manifest, runtime)


def _load_part(manifest: Manifest, runtime: Runtime) -> tuple[Any, OnnxModel]:
    section = manifest.onnx
    if section is None:
        raise ManifestError(
            f"{manifest.path / 'config.json'}: a component of an exported bundle must be exported too (no 'onnx' key)"
        )
    graph = manifest.path / str(section.get("file", GRAPH_FILE))
    if not graph.exists():
        raise FileNotFoundError(
            f"{graph}: no such file; an exported model folder holds its graph ({graph.name}) beside config.json. "
            "Export the model again with `sentimentkit export MODEL --format onnx -o DIR`"
        )
    tokenizer_file = manifest.path / TOKENIZER_FILE
    if not tokenizer_file.exists():
        raise FileNotFoundError(f"{tokenizer_file}: no such file; an exported model folder carries its tokenizer")
    task = TASKS.get(manifest.task).for_inference(manifest, FastTokenizer(manifest.path))
    return task, OnnxModel(graph, runtime.threads)
