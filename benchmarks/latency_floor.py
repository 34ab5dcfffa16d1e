"""Where single-sentence latency goes: ONNX Runtime alone at fixed lengths, against the same call end to end.

    python benchmarks/latency_floor.py                    # fp32 and int8 exports, 1 and 2 threads
    python benchmarks/latency_floor.py --lengths 8 16 32 --calls 50

Issue 13 asks for a single-sentence p50 of at most 5 ms. This script separates what the toolkit adds from what the
graph itself costs on this CPU: for each export of sentiment-en (the fused fp32 graph, the dynamic-int8 graph) and
thread count, it times `InferenceSession.run` alone on one sequence of each length (token ids of a common word,
full attention mask; --calls calls after 5 warm-up calls, median), and the whole `Pipeline` call (tokenizer,
language check, graph, decoding into a Prediction) on the first --latency-n SST-5 test sentences. The graph's
arithmetic per length comes from the fp32 graph itself (2 FLOPs per weight of every MatMul/Gemm/Attention weight
per token, plus 4 * L^2 * hidden per attention layer), so the rows also give the GFLOP/s the run reached, beside
the GFLOP/s of a large float32 matrix product in torch on the same threads (the cores' practical peak): how far
the kernels are from that peak, and why a faster number needs a faster kernel (int8 with VNNI, bf16 with
AVX-512 BF16/AMX) or a smaller graph (the distilled student), not less overhead around the graph.

The CPU's relevant instruction sets are read from /proc/cpuinfo into the rows. Run it on a quiet machine: other
processes on the cores inflate every number here (the ratios in benchmarks/backends.py are the side-by-side ones).
Results: results/backends.json (task latency-floor).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from backends import MODEL, export_folders
from common import command_line, summary, write_rows

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8", "amx_bf16")


def cpu_flags() -> list[str]:
    """The instruction sets of FLAGS this CPU reports (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    present = set(line.split(":", 1)[-1].split())
    return [f for f in FLAGS if f in present]


def graph_flops(path: Path) -> tuple[int, int, int]:
    """(weights in matrix products, attention layers, hidden size) of an fp32 ONNX graph.

    Counts the 2-D float initializers that feed MatMul, Gemm or (fused) Attention nodes: the per-token work of a
    transformer; embedding tables (Gather) are lookups and do not count.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {x.name: numpy_helper.to_array(x) for x in graph.initializer}
    linear, attention, hidden = 0, 0, 0
    for node in graph.node:
        if node.op_type not in {"MatMul", "Gemm", "Attention"}:
            continue
        for name in node.input[1:2]:
            w = weights.get(name)
            if w is not None and w.ndim == 2 and w.dtype.kind == "f":
                linear += int(w.size)
                if node.op_type == "Attention":
                    attention += 1
                    hidden = int(w.shape[0])
    return linear, attention, hidden


def flops_at(length: int, linear: int, attention: int, hidden: int) -> float:
    """Multiply-adds x 2 of one sequence of `length` tokens: the matrix products plus QK^T and AV per layer."""
    return 2.0 * length * linear + 4.0 * length * length * hidden * attention


def sgemm_peak(threads: int, size: int = 1024, calls: int = 20) -> float:
    """GFLOP/s of a large float32 matrix product in torch on `threads` threads: the practical peak of these cores."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(calls):
        a @ b
    return 2.0 * size**3 * calls / (time.perf_counter() - start) / 1e9


def session_latency(graph: Path, threads: int, length: int, calls: int) -> float:
    """Median milliseconds of InferenceSession.run on one sequence of `length` tokens."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    feed = {}
    for node in session.get_inputs():
        if "mask" in node.name:
            feed[node.name] = np.ones((1, length), dtype=np.int64)
        elif "type" in node.name:
            feed[node.name] = np.zeros((1, length), dtype=np.int64)
        else:
            feed[node.name] = np.full((1, length), 2204, dtype=np.int64)  # "good" in the MiniLM vocabulary
    for _ in range(5):
        session.run(None, feed)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--lengths", type=int, nargs="+", default=[8, 16, 24, 32, 48, 64])
    parser.add_argument("--calls", type=int, default=100, help="Timed session calls per length.")
    parser.add_argument("--latency-n", type=int, default=200, help="SST-5 test sentences, one call each.")
    parser.add_argument("--exports", type=Path, default=None, help="Folder for (or with) the ONNX exports.")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-write", action="store_true", help="Print only; leave results/ as it is.")
    args = parser.parse_args()

    import sentimentkit
    from sentimentkit.data.datasets import load_dataset
    from sentimentkit.encoders.pool import inference_runtime
    from sentimentkit.training.experiment import environment

    folders = export_folders(args.exports or Path(tempfile.mkdtemp(prefix="latency-floor-")))
    linear, attention, hidden = graph_flops(folders["fp32"] / "model.onnx")
    texts = [x.text for x in load_dataset("sst5", "test", args.data_dir)[: args.latency_n]]
    flags = cpu_flags()
    env = {**environment(), "cpu_flags": " ".join(flags)}
    print(f"graph: {linear / 1e6:.2f}M matrix weights, {attention} attention layers, hidden {hidden}; CPU: {flags}")

    rows = []
    for precision, folder in folders.items():
        for threads in args.threads:
            os.environ["RAYON_NUM_THREADS"] = str(threads)
            peak = sgemm_peak(threads)
            metrics: dict[str, dict] = {"sgemm_peak_gflop_per_s": summary([peak])}
            print(f"threads={threads}: float32 GEMM 1024^3 at {peak:.1f} GFLOP/s")
            for length in args.lengths:
                ms = session_latency(folder / "model.onnx", threads, length, args.calls)
                gflops = flops_at(length, linear, attention, hidden) / 1e9
                metrics[f"session_ms_len{length}"] = summary([ms])
                metrics[f"gflop_per_s_len{length}"] = summary([gflops / (ms / 1000)])
                print(f"{precision} threads={threads} L={length:3d}: {ms:7.2f} ms  {gflops / (ms / 1000):6.1f} GFLOP/s")
            pipeline = sentimentkit.load(str(folder), runtime=inference_runtime(threads=threads))
            pipeline(texts[:20])
            latencies = []
            for text in texts:
                start = time.perf_counter()
                pipeline([text])
                latencies.append((time.perf_counter() - start) * 1000)
            metrics["pipeline_ms_p50"] = summary([statistics.median(latencies)])
            print(f"{precision} threads={threads} pipeline p50 {statistics.median(latencies):.2f} ms")
            rows.append(
                {
                    "suite": "backends",
                    "task": "latency-floor",
                    "dataset": "sst5",
                    "split": "test",
                    "model": f"{MODEL}:onnx-{precision}",
                    "backbone": "all-MiniLM-L6-v2",
                    "metrics": metrics,
                    "settings": {
                        "threads": threads,
                        "calls": args.calls,
                        "latency_n": len(texts),
                        "matrix_weights": linear,
                        "cpu_flags": " ".join(flags),
                        "session": "one sequence per length, token ids of one word, full mask; median of calls",
                        "pipeline": "Pipeline([text]) on the first latency_n SST-5 test sentences; median",
                    },
                    "command": command_line(),
                    "env": env,
                }
            )
    if not args.no_write:
        print(f"\nwrote {write_rows('backends', rows)}")


if __name__ == "__main__":
    main()
