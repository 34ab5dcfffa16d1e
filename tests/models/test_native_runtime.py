"""Every BERT-architecture model runs on the plain-torch BERT when loaded on the native runtime (what
`sentimentkit.load` uses), with the outputs of the transformers implementation: the MoE and prompt models too,
and a prompt model loads without importing peft or transformers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from sentimentkit.data.collate import pad_batch
from sentimentkit.data.encoding import encode_texts
from sentimentkit.encoders.bert import NativeBert
from sentimentkit.encoders.text import load_tokenizer
from sentimentkit.labels import BINARY
from sentimentkit.models import build_model, load_checkpoint, save_checkpoint
from sentimentkit.models.base import Runtime

SECTIONS = {
    "lora": {"type": "lora", "lora_r": 2},
    "moe": {"type": "moe", "layers": [0, 1], "num_experts": 3, "noise": 0.3},
    "moe-ffn": {"type": "moe-ffn", "layers": [1], "num_experts": 2, "top_k": 1},
    "prompt-tuning": {"type": "prompt-tuning", "num_virtual_tokens": 3},
    "p-tuning": {"type": "p-tuning", "num_virtual_tokens": 3, "encoder_hidden_size": 8},
}


def _saved(kind: str, backbone: str, directory) -> dict:
    torch.manual_seed(0)
    section = {**SECTIONS[kind], "backbone": backbone}
    model = build_model(section, BINARY)
    with torch.no_grad():  # move the trained parts off their initial values, so that loading them matters
        for param in model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.2)
    save_checkpoint(model, directory, {"model": section, "labels": list(BINARY.names), "max_length": 24})
    return section


@pytest.mark.parametrize("kind", sorted(SECTIONS))
def test_native_and_transformers_give_the_same_logits(kind, tiny_backbone, tmp_path):
    _saved(kind, tiny_backbone, tmp_path)
    texts = ["a good film", "bad, very bad and a long and boring movie", "fine"]
    batch = pad_batch(encode_texts(load_tokenizer(tiny_backbone), texts, 24))
    reference, _ = load_checkpoint(tmp_path, Runtime("transformers"))
    native, _ = load_checkpoint(tmp_path, Runtime("native"))
    assert any(isinstance(m, NativeBert) for m in native.modules())
    assert not any(isinstance(m, NativeBert) for m in reference.modules())
    with torch.no_grad():
        expected, got = reference(batch).logits, native(batch).logits
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_a_prompt_model_loads_without_peft_or_transformers(tiny_backbone, tmp_path):
    _saved("p-tuning", tiny_backbone, tmp_path)
    code = (
        "import sys, sentimentkit\n"
        f"p = sentimentkit.load({str(tmp_path)!r})\n"
        "print(p(['a good film'])[0].label)\n"
        "print(sorted(m for m in ('peft', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] in BINARY.names and out[1] == "[]"
