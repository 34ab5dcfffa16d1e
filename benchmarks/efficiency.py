"""Efficiency of the document models (the reference study's Table 3), measured side by side in one run.

    python benchmarks/efficiency.py [--models full-ft moe moe-ffn moe-split ...]   (default: every document model)

For each `configs/<model>.yaml` (5 SST-5 classes): total and trainable parameters; GFLOPs per sample
(torch.utils.flop_counter on a forward over SST-5 test sentences); inference throughput in samples/s
(batch 32, the same sentences for every model, rounds interleaved across models, median of the rounds);
and training memory (in a fresh process, the peak RSS during 5 training steps at batch 32 minus the RSS
just before them, in MB: activations, gradients and optimizer state, not the loaded model or runtime).
The process uses one thread so that models are compared on equal footing on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from common import command_line, summary, write_rows

from sentimentkit.data.collate import TextBatch, pad_batch
from sentimentkit.data.datasets import load_dataset
from sentimentkit.data.encoding import encode_texts
from sentimentkit.labels import SENTIMENT5
from sentimentkit.models import MODELS, build_model
from sentimentkit.models.base import model_config
from sentimentkit.training.experiment import environment, load_experiment

CONFIGS = Path(__file__).parents[1] / "configs"
DEFAULT = ["full-ft", "moe", "moe-ffn", "moe-split", "lora", "bitfit", "prompt-tuning", "p-tuning", "bilstm-attn"]


def build(name: str, train_texts: list[str], overrides: list[str] | None = None):
    """The model and its tokenizer, built as the training runner would (a vocab from train for BiLSTM).
    overrides: `--set`-style "key=value" changes to the config (e.g. "model.gradient_checkpointing=true")."""
    config = load_experiment(CONFIGS / f"{name}.yaml", overrides)
    settings = model_config(config.model)
    if MODELS.get(settings.type).tokenizer == "vocab":
        from sentimentkit.data.vocab import WordVocab

        tokenizer = WordVocab.build(train_texts, settings.min_freq, settings.max_vocab)
        settings = replace(settings, vocab_size=len(tokenizer))
    else:
        from sentimentkit.encoders.text import load_tokenizer

        tokenizer = load_tokenizer(settings.backbone)
    torch.manual_seed(0)
    return build_model(settings, SENTIMENT5), tokenizer, config.data.max_length


def batches(tokenizer, texts: list[str], max_length: int, size: int = 32) -> list[TextBatch]:
    """Padded batches of `size` texts, each with target 0 (training steps need one; inference drops it)."""
    items = [replace(x, label=0) for x in encode_texts(tokenizer, texts, max_length)]
    return [pad_batch(items[i : i + size]) for i in range(0, len(items), size)]


def flops_per_sample(model, batch: TextBatch) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(batch.without_labels())
    return counter.get_total_flops() / len(batch) / 1e9


def peak_training_memory_mb(name: str) -> float:
    """Run 5 training steps (batch 32) in a fresh process (`_peak_memory.py`); return the peak RSS during them
    minus the RSS before the first step (model, data and runtime already loaded), in MB: what training adds."""
    script = Path(__file__).with_name("_peak_memory.py")
    out = subprocess.run([sys.executable, str(script), name], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(1)

    train_texts = [x.text for x in load_dataset("sst5", "train")]
    test_texts = [x.text for x in load_dataset("sst5", "test")][: args.sentences]
    models = {}
    for name in args.models:
        model, tokenizer, max_length = build(name, train_texts)
        model.eval()
        models[name] = (model, [b.without_labels() for b in batches(tokenizer, test_texts, max_length)])

    rates: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for _ in range(args.rounds):
            for name, (model, data) in models.items():  # interleaved: drift on the machine hits all alike
                start = time.perf_counter()
                for batch in data:
                    model(batch)
                rates[name].append(len(test_texts) / (time.perf_counter() - start))

    rows = []
    for name, (model, data) in models.items():
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        gflops = flops_per_sample(model, data[0])
        memory = peak_training_memory_mb(name)
        median = statistics.median(rates[name])
        # the ratio to the dense model, round by round (the same moment of the machine), then the median
        ratio = None
        if "full-ft" in rates:
            ratio = statistics.median(a / b for a, b in zip(rates[name], rates["full-ft"], strict=True))
        print(
            f"{name:14s} params {total / 1e6:6.2f}M trainable {trainable / 1e6:7.3f}M  {gflops:6.3f} GFLOPs/sample  "
            f"{median:7.1f} samples/s ({ratio or 0:.2f}x full-ft)  training memory +{memory:.0f} MB",
            flush=True,
        )
        rows.append(
            {
                "suite": "efficiency",
                "task": "sentiment-5",
                "dataset": "sst5",
                "split": "test",
                "model": name,
                "backbone": "none (trained from scratch)" if name == "bilstm-attn" else "all-MiniLM-L6-v2",
                "metrics": {
                    "params_total": summary([total]),
                    "params_trainable": summary([trainable]),
                    "gflops_per_sample": summary([gflops]),
                    "samples_per_s": {**summary(rates[name]), "mean": median, "aggregate": "median"},
                    "peak_memory_mb": summary([memory]),
                    **(
                        {"throughput_vs_full_ft": {**summary([ratio]), "n": args.rounds, "aggregate": "median"}}
                        if ratio is not None
                        else {}
                    ),
                },
                "settings": {
                    "max_length": load_experiment(CONFIGS / f"{name}.yaml").data.max_length,
                    "epochs": None,
                    "train_subset": None,
                    "batch_size": 32,
                    "threads": 1,
                    "throughput": f"first {len(test_texts)} SST-5 test sentences, {args.rounds} interleaved rounds",
                    "memory": "peak RSS during 5 training steps minus RSS before them (fresh process)",
                },
                "command": command_line(),
                "env": environment(),
            }
        )
    print(write_rows("efficiency", rows))


if __name__ == "__main__":
    main()
