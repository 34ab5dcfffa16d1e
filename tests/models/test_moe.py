"""The gated-expert MoE layer: exact start from the pretrained encoder, sparse top-k routing, the balance loss,
generic insertion (BERT, RoBERTa, DistilBERT), and the `moe` classifiers' train-save-reload round trip."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from sentimentkit.config import ConfigError
from sentimentkit.data.collate import TextBatch
from sentimentkit.labels import BINARY
from sentimentkit.models import MODELS, build_model, load_checkpoint, save_checkpoint
from sentimentkit.models.moe import insert_moe, load_balancing_loss, moe_call, moe_layers

LENGTHS = [10, 7, 4]


def tiny_encoder(kind: str, backbone: str) -> nn.Module:
    """A random 2-layer, 32-wide encoder (intermediate 64), in eval mode so that dropout is off."""
    from transformers import AutoModel, DistilBertConfig, DistilBertModel, RobertaConfig, RobertaModel

    torch.manual_seed(0)
    if kind == "bert":
        model = AutoModel.from_pretrained(backbone)
    elif kind == "roberta":
        size = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
        model = RobertaModel(RobertaConfig(vocab_size=100, max_position_embeddings=40, initializer_range=0.2, **size))
    else:
        config = DistilBertConfig(vocab_size=100, dim=32, n_layers=2, n_heads=2, hidden_dim=64, initializer_range=0.2)
        model = DistilBertModel(config)
    return model.eval()


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids (3, 10) and a right-padded attention mask with lengths LENGTHS."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 100, (len(LENGTHS), max(LENGTHS)), generator=generator)
    mask = (torch.arange(max(LENGTHS))[None] < torch.tensor(LENGTHS)[:, None]).long()
    return ids * mask, mask


def real_states(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Last hidden states of the real (non-padding) tokens, (n, H). Padding states are not compared: the MoE
    skips padding, and no real token attends to it."""
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).last_hidden_state[mask.bool()]


@pytest.mark.parametrize("kind", ["bert", "roberta", "distilbert"])
@pytest.mark.parametrize(
    ("mode", "expert_init", "top_k"), [("replace", "copy", 2), ("replace", "split", 4), ("beside", "copy", 2)]
)
def test_starts_as_the_pretrained_encoder(tiny_backbone, kind, mode, expert_init, top_k):
    dense = tiny_encoder(kind, tiny_backbone)
    ids, mask = padded_batch()
    expected = real_states(dense, ids, mask)
    moe = copy.deepcopy(dense)
    layers = insert_moe(moe, [0, -1], num_experts=4, top_k=top_k, mode=mode, expert_init=expert_init, noise=0.0)
    assert len(layers) == len(moe_layers(moe)) == 2
    assert torch.allclose(real_states(moe, ids, mask), expected, atol=1e-5)
    # The test can fail: splitting with k < E drops neurons and changes the function.
    split = copy.deepcopy(dense)
    insert_moe(split, [0, 1], num_experts=4, top_k=2, expert_init="split", noise=0.0)
    assert not torch.allclose(real_states(split, ids, mask), expected, atol=1e-3)


def test_routes_each_real_token_to_k_experts_and_only_computes_those(tiny_backbone):
    model = tiny_encoder("bert", tiny_backbone)
    (layer,) = insert_moe(model, [1], num_experts=4, top_k=2, noise=0.5)
    rows = []
    for expert in layer.experts:
        expert.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    ids, mask = padded_batch()
    with torch.no_grad(), moe_call(mask, record_routing=True) as call:
        model(input_ids=ids, attention_mask=mask)
    real = mask.bool()
    assert sum(rows) == 2 * sum(LENGTHS)  # k expert calls per real token, none for padding
    assert len(call.routing) == len(call.aux_losses) == 1  # one MoE layer reported
    (routing,) = call.routing
    assert routing.expert_ids.shape == routing.gates.shape == (*ids.shape, 2)
    chosen = routing.expert_ids[real]  # (n, k)
    assert (chosen[:, 0] != chosen[:, 1]).all() and chosen.min() >= 0 and chosen.max() < 4
    assert (routing.expert_ids[~real] == -1).all() and (routing.gates[~real] == 0).all()
    assert torch.allclose(routing.gates[real].sum(-1), torch.ones(real.sum()))
    assert len(set(chosen.flatten().tolist())) > 2  # a random router spreads tokens
    with moe_call(mask) as call:  # no routing requested: none recorded
        model(input_ids=ids, attention_mask=mask)
    assert call.routing == [] and len(call.aux_losses) == 1
    assert torch.isfinite(call.aux_loss())
    call.aux_loss().backward()
    assert layer.router.weight.grad.abs().sum() > 0  # the balance loss trains the router
    rows.clear()
    with torch.no_grad():  # outside a moe_call: every token is computed, padding included
        model(input_ids=ids, attention_mask=mask)
    assert sum(rows) == 2 * ids.numel()


def test_balance_loss_is_one_when_uniform_and_num_experts_when_collapsed():
    uniform = torch.full((6, 4), 0.25)
    balanced_ids = torch.tensor([[0, 1], [2, 3]] * 3)
    assert load_balancing_loss(uniform, balanced_ids).item() == pytest.approx(1.0)
    collapsed = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 6)
    assert load_balancing_loss(collapsed, torch.zeros(6, 1, dtype=torch.long)).item() == pytest.approx(4.0)
    # 1 is not a lower bound: f and P can disagree (3 tokens barely pick expert 0, one is sure of expert 1).
    probs = torch.tensor([[0.51, 0.49]] * 3 + [[0.0, 1.0]])
    assert load_balancing_loss(probs, probs.argmax(-1, keepdim=True)).item() == pytest.approx(0.8825)


def test_padding_is_left_out_of_the_balance_loss_and_the_output(tiny_backbone):
    model = tiny_encoder("bert", tiny_backbone)
    (layer,) = insert_moe(model, [0], num_experts=4, top_k=2, noise=0.5)
    ids, mask = padded_batch()
    states = torch.randn(*ids.shape, 32)
    with torch.no_grad():
        with moe_call(mask) as call:
            masked = layer(states)
        (masked_loss,) = call.aux_losses
        with moe_call() as call:
            alone = layer(states[mask.bool()])  # only the real tokens, no mask
        (alone_loss,) = call.aux_losses
        with moe_call() as call:
            unmasked = layer(states)  # padding included
        (unmasked_loss,) = call.aux_losses
        outside = layer(states)  # no moe_call: the same as an unmasked call, and nothing to report to
    assert torch.allclose(masked[mask.bool()], alone, atol=1e-6)
    assert (masked[~mask.bool()] == 0).all()
    assert masked_loss.item() == pytest.approx(alone_loss.item())
    assert masked_loss.item() != pytest.approx(unmasked_loss.item())
    assert torch.equal(outside, unmasked) and not (unmasked[~mask.bool()] == 0).all()
    with pytest.raises(ValueError, match="token mask"), moe_call(mask[:, :4]):
        layer(states)


def test_a_model_without_a_recognisable_ffn_gets_a_clear_error():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mix = nn.Linear(8, 8)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = type("Config", (), {"num_hidden_layers": 2, "hidden_size": 8})()
            self.layers = nn.ModuleList([Block(), Block()])

    with pytest.raises(LookupError, match=r"Encoder block 1 \(Block\): cannot find the FFN.*8->F"):
        insert_moe(Encoder(), [1])
    with pytest.raises(LookupError, match="no nn.ModuleList of"):
        insert_moe(nn.Sequential(nn.Linear(8, 8)), [0])
    with pytest.raises(ValueError, match="layers"):
        insert_moe(Encoder(), [2])


def test_moe_layers_train_even_with_a_frozen_backbone_and_lora_is_refused(tiny_backbone):
    model = build_model({"type": "moe", "backbone": tiny_backbone, "adapter": "frozen", "mode": "beside"}, BINARY)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".experts." in n or ".router." in n or n.startswith("head.") for n in trainable)
    assert any(".pretrained." in n for n, _ in model.named_parameters())
    with pytest.raises(ConfigError, match="adapter 'lora'"):
        build_model({"type": "moe", "backbone": tiny_backbone, "adapter": "lora"}, BINARY)


def test_the_loss_adds_the_weighted_balance_loss_and_routing_is_reported(tiny_backbone):
    torch.manual_seed(0)
    model = build_model({"type": "moe-ffn", "backbone": tiny_backbone, "aux_loss_weight": 0.5}, BINARY).eval()
    assert len(moe_layers(model)) == 2
    ids, mask = padded_batch()
    labels = torch.tensor([0, 1, 1])
    out = model(TextBatch(input_ids=ids, attention_mask=mask, labels=labels), record_routing=True)
    with torch.no_grad(), moe_call(mask) as call:  # the same encoder pass, its balance losses collected by hand
        model.encoder(ids, mask)
    assert len(call.aux_losses) == 2
    aux = sum(call.aux_losses)
    assert torch.allclose(out.extras["aux_loss"], aux)
    ce = nn.functional.cross_entropy(out.logits, labels)
    assert torch.allclose(out.loss, ce + 0.5 * aux)
    assert out.extras["routing_experts"].shape == out.extras["routing_gates"].shape == (2, *ids.shape, 2)
    assert (out.extras["routing_experts"][:, ~mask.bool()] == -1).all()
    plain = model(TextBatch(input_ids=ids, attention_mask=mask))  # no targets, no routing requested
    assert plain.loss is None and "routing_experts" not in plain.extras and "routing_gates" not in plain.extras
    torch.testing.assert_close(plain.logits, out.logits)


@pytest.mark.parametrize("name", ["moe", "moe-ffn"])
def test_overfits_saves_and_reloads_to_the_same_logits(tiny_backbone, tmp_path, name):
    from sentimentkit.data.encoding import TextItem
    from sentimentkit.training.trainer import Trainer
    from tests.training.test_trainer import ARGS, TASK, predict_logits, toy_data

    section = {"type": name, "backbone": tiny_backbone, "num_experts": 3, "top_k": 2}
    meta = {"model": section, "labels": list(BINARY.names), "max_length": 16}

    def save(model: nn.Module, directory, metrics: dict) -> None:
        save_checkpoint(model, directory, meta)

    torch.manual_seed(0)
    data: list[TextItem] = toy_data()
    model = build_model(section, BINARY)
    head = MODELS.get(name).head(model)
    trainer = Trainer(model, TASK, data, data, ARGS, tmp_path, save_best=save, head=head, progress=False)
    assert trainer.fit().best_metric == 1.0
    logits = predict_logits(trainer.model, data)
    assert (logits.argmax(-1) == np.array([x.label for x in data])).all()
    save_checkpoint(trainer.model, tmp_path / "final", meta)
    torch.manual_seed(123)  # the rebuilt experts get other noise, which the saved tensors overwrite
    reloaded, _ = load_checkpoint(tmp_path / "final")
    np.testing.assert_allclose(predict_logits(reloaded, data), logits, atol=1e-5)
