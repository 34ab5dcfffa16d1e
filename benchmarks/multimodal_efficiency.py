"""Size, compute and speed of the multimodal models, measured side by side in one process run.

    python benchmarks/multimodal_efficiency.py [--models almt tfn ...] [--clips 256] [--rounds 3]

For each `configs/mm/<name>.yaml` (model section, built with SynMOSI's audio_dim 5 and vision_dim 20):
- parameters: total, trainable, and non-text (everything outside the text encoder; the ALMT reference counts its
  own as 2.5M in the paper and 2,603,649 in the current code with 768-d BERT input, MULTIMODAL.md 1.1 and 1.4.1);
- GFLOPs per clip: `torch.utils.flop_counter.FlopCounterMode` over one batch of real SynMOSI test clips, divided
  by the batch size, with the text encoder (its per-clip memo of frozen features emptied first, so the encoder
  runs) and without it (the flops counted inside the text-encoder module subtracted); CPU LSTM layers, which the
  counter does not know, are counted as their gate matmuls (`rnn_layer_flops`);
- clips/s in eval mode at batch 64 through the task's own inference path (`predict_values`: length-sorted
  batches), the memo of frozen text features emptied before every pass so that each clip pays for its text as a
  new clip would; models interleaved over the rounds, the median reported; one thread.
The weights are random: size and speed do not depend on trained values. Rows go to
results/multimodal_efficiency.json.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from common import command_line, summary, write_rows
from torch import nn

CONFIGS = Path(__file__).parents[1] / "configs" / "mm"
DEFAULT = ["almt", "almt-compat", "tfn", "lmf", "lf-dnn", "ef-lstm", "mult", "msrn", "text-regressor"]
AUDIO_DIM, VISION_DIM = 5, 20  # SynMOSI's (and MOSI's) feature sizes
BATCH = 64


def build(name: str) -> tuple[nn.Module, Any, Any]:
    """The model of `configs/mm/<name>.yaml` with random weights (seed 0), its task (tokenizer, dims) and its
    validated model settings."""
    from dataclasses import replace

    from sentimentkit.encoders.text import load_tokenizer
    from sentimentkit.models import build_model
    from sentimentkit.models.base import model_config
    from sentimentkit.tasks.multimodal import VALUE, MultimodalRegression
    from sentimentkit.training.experiment import load_experiment

    config = load_experiment(CONFIGS / f"{name}.yaml")
    settings = replace(model_config(config.model), audio_dim=AUDIO_DIM, vision_dim=VISION_DIM)
    torch.manual_seed(0)
    model = build_model(settings, VALUE)
    model.eval()
    task = MultimodalRegression(
        VALUE, load_tokenizer(settings.backbone), config.data.max_length, (AUDIO_DIM, VISION_DIM)
    )
    return model, task, settings


def text_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The model's text encoders ({dotted name: module}): every `TextFeatures` inside it."""
    from sentimentkit.models.multimodal.common import TextFeatures

    return {name: m for name, m in model.named_modules() if isinstance(m, TextFeatures)}


def clear_text_memos(model: nn.Module) -> None:
    """Empty the per-clip memo of frozen text features, so that the next forward runs the text encoder."""
    for module in text_modules(model).values():
        module.memo.clear()


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """total, trainable, and non_text: the parameters outside the text encoder (each tensor counted once)."""
    text_ids = {id(p) for m in text_modules(model).values() for p in m.parameters()}
    params = list(model.parameters())
    return {
        "total": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "non_text": sum(p.numel() for p in params if id(p) not in text_ids),
    }


def module_counts(model: nn.Module) -> dict[str, int]:
    """Parameters per top-level child module, the text encoder left out (to set beside REFERENCE_MOSI_PARAMETERS)."""
    text = set(text_modules(model))
    return {
        name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children() if name not in text
    }


def rnn_layer_flops(input_shape: Any, w_ih: Any, w_hh: Any, *args: Any, **kwargs: Any) -> int:
    """FLOPs of one oneDNN RNN layer call: 2 x (steps x batch) x (|W_ih| + |W_hh|), the gate matmuls.

    On CPU, nn.LSTM runs as `aten.mkldnn_rnn_layer` (one call per layer and direction), which FlopCounterMode has
    no formula for and would count as 0; the element-wise gate arithmetic is left out, as for other layers."""
    steps = math.prod(input_shape) // input_shape[-1]
    return 2 * steps * (math.prod(w_ih) + math.prod(w_hh))


def gflops_per_clip(model: nn.Module, batch: Any) -> tuple[float, float]:
    """(with the text encoder, without it) in GFLOPs per clip, over one forward of `batch`."""
    from torch.utils.flop_counter import FlopCounterMode

    clear_text_memos(model)
    # Not under no_grad/inference_mode: the counter's module tracker fails there on a Parameter passed straight
    # into a submodule (torch 2.13, ALMT's H_hyper^0); eval mode and a discarded output cost one autograd graph.
    rnn = {torch.ops.aten.mkldnn_rnn_layer: rnn_layer_flops}
    with FlopCounterMode(display=False, custom_mapping=rnn) as counter:
        model(batch.without_labels())
    total = counter.get_total_flops()
    by_module = counter.get_flop_counts()
    root = type(model).__name__
    text = sum(sum(by_module.get(f"{root}.{name}", {}).values()) for name in text_modules(model))
    return total / len(batch) / 1e9, (total - text) / len(batch) / 1e9


def clips_per_second(model: nn.Module, task: Any, items: list) -> float:
    """One timed pass over `items` through the task's inference path, text encoder included."""
    clear_text_memos(model)
    start = time.perf_counter()
    task.predict_values(model, items, BATCH)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT, help="config names in configs/mm/")
    parser.add_argument("--clips", type=int, default=256, help="the first N SynMOSI test clips")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)

    from sentimentkit.models.multimodal.almt import REFERENCE_MOSI_PARAMETERS
    from sentimentkit.multimodal.synmosi import GENERATOR_VERSION, generate
    from sentimentkit.training.experiment import environment

    clips = generate("test", data_dir=args.data_dir)[: args.clips]
    models = {}
    for name in args.models:
        model, task, settings = build(name)
        models[name] = (model, task, task.encode(clips), settings)

    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, (model, task, items, _) in models.items():  # interleaved: drift on the machine hits all alike
            rates[name].append(clips_per_second(model, task, items))

    rows = []
    for name, (model, task, items, settings) in models.items():
        counts = parameter_counts(model)
        gflops, gflops_non_text = gflops_per_clip(model, task.collate(items[:BATCH]))
        median = statistics.median(rates[name])
        by_module = module_counts(model)
        print(
            f"{name:15s} params {counts['total'] / 1e6:6.2f}M  non-text {counts['non_text'] / 1e6:6.3f}M  "
            f"trainable {counts['trainable'] / 1e6:6.3f}M  {gflops:6.3f} GFLOPs/clip "
            f"({gflops_non_text:6.3f} without text)  {median:7.2f} clips/s",
            flush=True,
        )
        if name.startswith("almt"):
            print(
                "    non-text by module (ours / reference with 768-d text): "
                + ", ".join(f"{k} {by_module.get(k, 0):,}/{v:,}" for k, v in REFERENCE_MOSI_PARAMETERS.items())
            )
        rows.append(
            {
                "suite": "multimodal_efficiency",
                "task": "multimodal-regression",
                "dataset": "synmosi",
                "split": "test",
                "model": name,
                "backbone": "all-MiniLM-L6-v2",
                "metrics": {
                    "params_total": summary([counts["total"]]),
                    "params_trainable": summary([counts["trainable"]]),
                    "params_non_text": summary([counts["non_text"]]),
                    "gflops_per_sample": summary([gflops]),
                    "gflops_per_sample_non_text": summary([gflops_non_text]),
                    "samples_per_s": {**summary(rates[name]), "mean": median, "aggregate": "median"},
                },
                "params_by_module": by_module,
                "settings": {
                    "audio_dim": AUDIO_DIM,
                    "vision_dim": VISION_DIM,
                    "max_length": task.max_length,
                    "text_encoder": settings.text_encoder,
                    "weights": "random initialisation (size and speed do not depend on trained values)",
                    "batch_size": BATCH,
                    "threads": 1,
                    "clips": len(items),
                    "throughput": (
                        f"first {len(items)} SynMOSI {GENERATOR_VERSION} test clips, eval mode, text encoder run "
                        f"for every clip, {args.rounds} interleaved rounds, median"
                    ),
                    "flops": (
                        f"FlopCounterMode on the first {min(BATCH, len(items))} clips, per clip; LSTM layers "
                        "(oneDNN) counted as their gate matmuls"
                    ),
                },
                "command": command_line(),
                "env": environment(),
            }
        )
    print(write_rows("multimodal_efficiency", rows))


if __name__ == "__main__":
    main()
