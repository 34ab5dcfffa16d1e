"""What a model costs to run, per backend, measured side by side in one run (`sentimentkit efficiency`).

For each model and backend: parameters (total, and trainable as the model was built to train), GFLOPs per text
(torch's flop counter on the torch backends; an ONNX graph is not counted), throughput in texts/s over the texts in
batches, single-text latency p50/p99, and peak memory (the peak RSS of a fresh process that loads the backend and
scores the texts, in MB). Rounds are interleaved across every (model, backend), so drift on the machine hits them
alike; throughput and latency are medians over rounds. Backends: torch-fp32 (what `analyze` runs), torch-bf16
(autocast), onnx-fp32 and onnx-int8 (exported to a temporary folder first; a model that does not export gets a
row that says why).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BACKENDS = ("torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8")


@dataclass
class Efficiency:
    """One (model, backend) row. Fields are None where the backend cannot say (an ONNX graph's FLOPs)."""

    model: str
    backend: str
    params_total: int | None = None
    params_trainable: int | None = None
    gflops_per_text: float | None = None
    texts_per_s: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    peak_memory_mb: float | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile by the nearest-rank method (q in [0, 100])."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def measure(
    models: Sequence[str],
    backends: Sequence[str],
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    rounds: int = 3,
    latency_texts: int = 50,
    threads: int | None = None,
    memory: bool = True,
) -> list[Efficiency]:
    """Measure every (model, backend); see the module docstring. `threads`: torch and ONNX Runtime threads."""
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f"backend {unknown[0]!r}: expected one of {', '.join(BACKENDS)}")
    if not texts or not models or not backends:
        raise ValueError("nothing to measure: give at least one model, one backend and one text")
    if rounds < 1 or batch_size < 1 or latency_texts < 1:
        raise ValueError("rounds, batch size and latency texts must each be at least 1")
    import torch

    if threads:
        torch.set_num_threads(threads)
    texts = list(texts)
    with tempfile.TemporaryDirectory(prefix="sentimentkit-efficiency-") as tmp:
        rows, loaded = [], {}
        for model in models:
            for backend in backends:
                row = Efficiency(model, backend)
                rows.append(row)
                try:
                    source, pipeline = _load(model, backend, Path(tmp), threads)
                except (ImportError, ValueError, TypeError) as err:
                    row.note = f"not available: {err}"
                    continue
                loaded[(model, backend)] = (source, pipeline)
                row.params_total, row.params_trainable = _parameters(pipeline, source)
                if backend.startswith("torch"):
                    row.gflops_per_text = _gflops(pipeline, texts[:batch_size])
                pipeline(texts[:batch_size], batch_size=batch_size)  # warm-up: first-call allocations
        rates: dict[tuple[str, str], list[float]] = {key: [] for key in loaded}
        latencies: dict[tuple[str, str], list[float]] = {key: [] for key in loaded}
        for _ in range(rounds):
            for key, (_, pipeline) in loaded.items():
                start = time.perf_counter()
                pipeline(texts, batch_size=batch_size)
                rates[key].append(len(texts) / (time.perf_counter() - start))
                for text in texts[:latency_texts]:
                    start = time.perf_counter()
                    pipeline([text])
                    latencies[key].append(1000 * (time.perf_counter() - start))
        for row in rows:
            key = (row.model, row.backend)
            if key not in loaded:
                continue
            row.texts_per_s = statistics.median(rates[key])
            row.latency_p50_ms = percentile(latencies[key], 50)
            row.latency_p99_ms = percentile(latencies[key], 99)
            if memory:
                row.peak_memory_mb = _peak_memory(loaded[key][0], row.backend, texts, batch_size, threads)
    return rows


def _load(model: str, backend: str, tmp: Path, threads: int | None) -> tuple[str, Any]:
    """(what a fresh process loads for this backend, the loaded pipeline)."""
    from ..encoders.pool import inference_runtime
    from .pipeline import Pipeline

    if backend.startswith("onnx"):
        from .export import export_onnx

        folder = tmp / f"{len(list(tmp.iterdir()))}-{backend}"
        export_onnx(model, folder, int8=backend == "onnx-int8")
        source = str(folder)
    else:
        source = model
    dtype = "bf16" if backend == "torch-bf16" else "fp32"
    return source, Pipeline.load(source, runtime=inference_runtime(dtype=dtype, threads=threads or 0))


def _modules(pipeline: Any) -> list[Any]:
    model = pipeline.model
    parts = [model] if not hasattr(model, "polarity") else [model.polarity, model.extractor]
    return [p for p in parts if p is not None]


def _parameters(pipeline: Any, source: str) -> tuple[int | None, int | None]:
    """Total and trainable parameters of the torch modules; an ONNX graph's initializer elements (no trainable)."""
    import torch

    parts = _modules(pipeline)
    if all(isinstance(p, torch.nn.Module) for p in parts):
        seen: dict[int, Any] = {}
        for part in parts:
            for param in part.parameters():
                seen[id(param)] = param  # a shared backbone counts once
        return sum(p.numel() for p in seen.values()), sum(p.numel() for p in seen.values() if p.requires_grad)
    import onnx

    total = 0
    for graph in sorted(Path(source).rglob("*.onnx")):
        for init in onnx.load(str(graph), load_external_data=False).graph.initializer:
            total += math.prod(init.dims)
    return total, None


def _gflops(pipeline: Any, texts: Sequence[str]) -> float | None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            pipeline(list(texts), batch_size=len(texts))
    except RuntimeError:  # an operator the counter cannot follow
        return None
    return counter.get_total_flops() / len(texts) / 1e9


def _peak_memory(source: str, backend: str, texts: Sequence[str], batch_size: int, threads: int | None) -> float:
    """Peak RSS (MB) of a fresh process that loads `source` for `backend` and scores `texts`."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(list(texts), f)
    try:
        args = [sys.executable, "-m", "sentimentkit.inference.efficiency", source, backend, f.name, str(batch_size)]
        args.append(str(threads or 0))
        out = subprocess.run(args, capture_output=True, text=True, check=True)
    finally:
        Path(f.name).unlink()
    return float(out.stdout.strip().splitlines()[-1])


def _probe(source: str, backend: str, texts_file: str, batch_size: int, threads: int) -> None:
    import resource

    from ..encoders.pool import inference_runtime
    from .pipeline import Pipeline

    if threads and backend.startswith("torch"):  # an ONNX folder runs without importing torch
        import torch

        torch.set_num_threads(threads)
    dtype = "bf16" if backend == "torch-bf16" else "fp32"
    pipeline = Pipeline.load(source, runtime=inference_runtime(dtype=dtype, threads=threads))
    pipeline(json.loads(Path(texts_file).read_text()), batch_size=batch_size)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux: KiB


if __name__ == "__main__":
    _probe(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
