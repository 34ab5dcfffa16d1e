"""Inference backends of sentiment-en side by side on SST-5 test sentences: throughput, latency, accuracy.

    python benchmarks/backends.py                         # all 2,210 test sentences, 2 threads, batch 32, 3 rounds
    python benchmarks/backends.py --n 256 --latency-n 50 --rounds 2    # a small run

Backends, all on the same weights and sentences, in one process:
  torch-fp32    sentimentkit.load("sentiment-en"): the `analyze` path (native BERT, LoRA adapters unmerged)
  torch-bf16    the same under torch.autocast(bfloat16): load(..., runtime=inference_runtime(dtype="bf16"))
  onnx-fp32     `sentimentkit export sentiment-en --format onnx` (fused graph), run by ONNX Runtime
  onnx-int8     the same export with --int8 (dynamic quantization, QInt8 per-channel weights; the MatMuls that read
                a GELU output stay float32, see sentimentkit/inference/export.py)
  hf-pipeline   transformers' pipeline("text-classification") over a BertModel holding the same (LoRA-merged)
                weights with our mean pooling and head as a PreTrainedModel: the same function as ours, so its
                accuracy and agreement are comparable (a stock BertForSequenceClassification pools [CLS] through
                a pooler, which sentiment-en was not trained with)
Rounds are interleaved (every backend once per round, the order rotating); per round: throughput over all the
sentences in batches of 32, and the latency of single-sentence calls on the first --latency-n sentences. The
median over rounds is reported. Accuracy and label agreement with torch-fp32 come from the throughput pass.
Results: results/backends.json (suite backends, task inference-speed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import command_line, summary, write_rows

Predict = Callable[[list[str]], list[str]]
MODEL = "sentiment-en"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def sentimentkit_backend(pipeline, batch_size: int) -> Predict:
    def predict(texts: list[str]) -> list[str]:
        return [p.label for p in pipeline(texts, batch_size=batch_size)]

    return predict


def hf_backend(threads: int, batch_size: int) -> Predict:
    """transformers' text-classification pipeline over sentiment-en's weights (see the module docstring)."""
    import torch
    from transformers import AutoTokenizer, BertModel, BertPreTrainedModel, pipeline
    from transformers.modeling_outputs import SequenceClassifierOutput
    from transformers.utils import logging

    import sentimentkit
    from sentimentkit.encoders.pool import Runtime
    from sentimentkit.hub import minilm_dir

    class MeanPoolClassifier(BertPreTrainedModel):
        def __init__(self, config) -> None:
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)
            self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
            self.post_init()

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, **_) -> SequenceClassifierOutput:
            states = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, H)
            return SequenceClassifierOutput(logits=self.classifier(pooled))

    ours = sentimentkit.load(MODEL, runtime=Runtime("transformers"), merge_adapters=True)
    labels = ours.labels.names
    config = ours.model.encoder.model.config
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    model = MeanPoolClassifier(config)
    model.bert.load_state_dict(ours.model.encoder.model.state_dict(), strict=True)
    model.classifier.load_state_dict(ours.model.head.state_dict())
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    max_length = int(ours.manifest.preprocessing.get("max_length", 128))
    logging.set_verbosity_error()  # the pipeline warns that it does not know this model class: it runs it all the same
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)

    def predict(texts: list[str]) -> list[str]:
        out = classify(texts, batch_size=batch_size, truncation=True, max_length=max_length)
        return [row["label"] for row in out]

    return predict


def export_folders(work: Path) -> dict[str, Path]:
    """The fp32 and int8 exports of sentiment-en in `work` (made once; reused when present)."""
    from sentimentkit.inference.export import export_onnx

    folders = {"fp32": work / "onnx-fp32", "int8": work / "onnx-int8"}
    for precision, folder in folders.items():
        if not (folder / "config.json").exists():
            export_onnx(MODEL, folder, int8=precision == "int8")
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=None, help="The first N test sentences (default: all).")
    parser.add_argument("--latency-n", type=int, default=200, help="Single-sentence calls per round.")
    parser.add_argument("--exports", type=Path, default=None, help="Folder for (or with) the ONNX exports.")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-write", action="store_true", help="Print only; leave results/ as it is.")
    args = parser.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))  # the tokenizers' thread pool, for every backend

    import torch

    import sentimentkit
    from sentimentkit.data.datasets import load_dataset
    from sentimentkit.encoders.pool import inference_runtime
    from sentimentkit.hub import read_manifest
    from sentimentkit.training.experiment import environment

    torch.set_num_threads(args.threads)
    test = load_dataset("sst5", "test", args.data_dir)[: args.n]
    texts, gold = [x.text for x in test], [x.label for x in test]
    work = args.exports or Path(tempfile.mkdtemp(prefix="backends-"))
    folders = export_folders(work)
    runtime = {"threads": args.threads}
    backends: dict[str, Predict] = {
        "torch-fp32": sentimentkit_backend(sentimentkit.load(MODEL), args.batch_size),
        "torch-bf16": sentimentkit_backend(
            sentimentkit.load(MODEL, runtime=inference_runtime(dtype="bf16")), args.batch_size
        ),
        "onnx-fp32": sentimentkit_backend(
            sentimentkit.load(str(folders["fp32"]), runtime=inference_runtime(**runtime)), args.batch_size
        ),
        "onnx-int8": sentimentkit_backend(
            sentimentkit.load(str(folders["int8"]), runtime=inference_runtime(**runtime)), args.batch_size
        ),
        "hf-pipeline": hf_backend(args.threads, args.batch_size),
    }
    for predict in backends.values():
        predict(texts[:64])  # warm-up: first-call allocations, lazy imports

    names = list(backends)
    speed: dict[str, list[float]] = {n: [] for n in names}
    p50: dict[str, list[float]] = {n: [] for n in names}
    p99: dict[str, list[float]] = {n: [] for n in names}
    labels: dict[str, list[str]] = {}
    single = texts[: args.latency_n]
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            predict = backends[name]
            start = time.perf_counter()
            labels[name] = predict(texts)
            speed[name].append(len(texts) / (time.perf_counter() - start))
            latencies = []
            for text in single:
                start = time.perf_counter()
                predict([text])
                latencies.append((time.perf_counter() - start) * 1000)
            p50[name].append(statistics.median(latencies))
            p99[name].append(percentile(latencies, 99))
            print(
                f"round {r + 1} {name:12s} {speed[name][-1]:7.1f} sentences/s  p50 {p50[name][-1]:6.2f} ms", flush=True
            )

    reference = labels["torch-fp32"]
    hf_speed = statistics.median(speed["hf-pipeline"])
    env = {**environment(), "threads": str(args.threads), "onnxruntime": _version("onnxruntime")}
    rows = []
    print(f"\n{'backend':12s} {'sent/s':>8s} {'x HF':>6s} {'p50 ms':>7s} {'p99 ms':>7s} {'acc':>7s} {'agree':>7s}")
    for name in names:
        accuracy = sum(a == b for a, b in zip(labels[name], gold, strict=True)) / len(gold)
        agreement = sum(a == b for a, b in zip(labels[name], reference, strict=True)) / len(reference)
        ratio = statistics.median(speed[name]) / hf_speed
        print(
            f"{name:12s} {statistics.median(speed[name]):8.1f} {ratio:6.2f} {statistics.median(p50[name]):7.2f} "
            f"{statistics.median(p99[name]):7.2f} {accuracy:7.4f} {agreement:7.4f}"
        )
        settings = {
            "threads": args.threads,
            "batch_size": args.batch_size,
            "rounds": args.rounds,
            "n": len(texts),
            "latency_n": len(single),
            "max_length": 96,
        }
        if name.startswith("onnx"):
            section = read_manifest(folders[name.split("-")[1]]).onnx or {}
            settings["optimizations"] = section.get("optimizations", [])
        rows.append(
            {
                "suite": "backends",
                "task": "inference-speed",
                "dataset": "sst5",
                "split": "test",
                "model": f"{MODEL}:{name}",
                "backbone": "all-MiniLM-L6-v2",
                "metrics": {
                    "samples_per_s": summary(speed[name]),
                    "latency_ms_p50": summary(p50[name]),
                    "latency_ms_p99": summary(p99[name]),
                    "throughput_vs_hf": summary([s / hf_speed for s in speed[name]]),
                    "accuracy": summary([accuracy]),
                    "label_agreement_fp32": summary([agreement]),
                },
                "settings": settings,
                "command": command_line(),
                "env": env,
            }
        )
    if not args.no_write:
        print(f"\nwrote {write_rows('backends', rows)}")


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
