"""Gradient checkpointing by config: layers really recompute in the backward pass, and every trainable parameter
(adapters inside frozen layers included) gets exactly the gradient it gets without checkpointing."""

from __future__ import annotations

import pytest
import torch

from sentimentkit.data.collate import AspectBatch, TextBatch
from sentimentkit.labels import POLARITY3, SENTIMENT5
from sentimentkit.models import build_model


def _backward(section: dict, batch, labels) -> tuple[dict, int]:
    torch.manual_seed(0)
    model = build_model(section, labels)
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    calls = [0]
    first_layer = next(m for n, m in model.named_modules() if n.endswith("encoder.layer.0.intermediate"))
    first_layer.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    model(batch).loss.backward()
    return {n: p.grad for n, p in model.named_parameters() if p.requires_grad}, calls[0]


@pytest.mark.parametrize("model_type", ["lora", "full-ft", "bitfit", "moe"])
def test_checkpointed_document_models_recompute_and_get_the_same_gradients(tiny_backbone, model_type):
    ids = torch.randint(1000, 2000, (4, 12))
    batch = TextBatch(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([0, 1, 2, 3]))
    section = {"type": model_type, "backbone": tiny_backbone}
    if model_type == "moe":
        section.update(layers=[-1], num_experts=2, top_k=2, noise=0.0)  # both experts see every token
    plain, plain_calls = _backward(section, batch, SENTIMENT5)
    checkpointed, calls = _backward({**section, "gradient_checkpointing": True}, batch, SENTIMENT5)
    assert plain_calls == 1 and calls == 2  # the layer ran again in the backward pass
    assert plain.keys() == checkpointed.keys()
    for name, grad in plain.items():
        assert grad is not None and checkpointed[name] is not None, name
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_checkpointed_aspect_model(tiny_backbone):
    ids = torch.randint(1000, 2000, (2, 10))
    mask = torch.ones_like(ids)
    aspect = torch.zeros_like(ids)
    aspect[:, 3] = 1
    batch = AspectBatch(
        input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 2]), aspect_mask=aspect,
        position_weights=torch.ones(2, 10), adjacency=torch.eye(10).expand(2, 10, 10).contiguous(),
    )  # fmt: skip
    section = {"type": "iagcn", "backbone": tiny_backbone, "adapter": "lora", "lstm_hidden": 8}
    plain, _ = _backward(section, batch, POLARITY3)
    checkpointed, calls = _backward({**section, "gradient_checkpointing": True}, batch, POLARITY3)
    assert calls == 2
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-5, atol=1e-6, msg=name)
