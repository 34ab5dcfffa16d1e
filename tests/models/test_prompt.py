"""`prompt-tuning` and `p-tuning`: what trains, pooling past the virtual tokens, text initialisation, config errors,
train-save-reload, and that importing the models does not import peft."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from sentimentkit.config import ConfigError, TrainConfig
from sentimentkit.data.collate import TextBatch, pad_batch
from sentimentkit.data.encoding import TextItem
from sentimentkit.labels import BINARY
from sentimentkit.models import MODELS, build_model, load_checkpoint, save_checkpoint
from sentimentkit.training.trainer import Trainer
from tests.training.test_trainer import TASK, predict_logits

P = 4  # virtual tokens in these tests
KINDS = ["prompt-tuning", "p-tuning"]


def section(kind: str, backbone: str, **changes) -> dict:
    extra = {"encoder_hidden_size": 16} if kind == "p-tuning" else {}
    return {"type": kind, "backbone": backbone, "num_virtual_tokens": P, **extra, **changes}


def make(kind: str, backbone: str, **changes):
    torch.manual_seed(0)
    return build_model(section(kind, backbone, **changes), BINARY)


def padded_batch() -> TextBatch:
    """[CLS] w... [SEP] rows of lengths 6, 4 and 3, right-padded (no targets)."""
    batch = pad_batch(
        [TextItem((101, 2204, 3185, 2003, 2307, 102)), TextItem((101, 2919, 3185, 102)), TextItem((101, 1037, 102))]
    )
    assert batch.labels is None
    return batch


@pytest.mark.parametrize("kind", KINDS)
def test_only_the_prompt_and_the_head_train(tiny_backbone, kind):
    model = make(kind, tiny_backbone)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    prompt = [n for n in trainable if n.startswith("encoder.model.prompt_encoder.")]
    assert sorted(set(trainable) - set(prompt)) == ["head.bias", "head.weight"]
    assert any(n.endswith("embedding.weight") for n in prompt)
    assert any("mlp_head" in n for n in prompt) == (kind == "p-tuning")
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert frozen > 100 * sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("kind", KINDS)
def test_pooling_reads_the_real_tokens_after_the_virtual_ones(tiny_backbone, kind, pooling):
    encoder = make(kind, tiny_backbone, pooling=pooling).eval().encoder
    batch = padded_batch()
    with torch.no_grad():
        full = encoder.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        states, pooled = encoder(batch.input_ids, batch.attention_mask)
    steps = batch.input_ids.shape[1]
    # peft prepends the P virtual tokens
    assert full.shape[1] == P + steps and states.shape[1] == steps
    torch.testing.assert_close(states, full[:, P:])
    if pooling == "cls":
        torch.testing.assert_close(pooled, full[:, P])  # the real [CLS], not the first virtual token
    mask = batch.attention_mask
    with torch.no_grad():  # each row alone, without padding, pools to the same vector
        for i, n in enumerate(mask.sum(1).tolist()):
            _, alone = encoder(batch.input_ids[i : i + 1, :n], mask[i : i + 1, :n])
            torch.testing.assert_close(alone[0], pooled[i], atol=1e-5, rtol=1e-4)


def test_text_initialisation_copies_the_word_embeddings_without_special_tokens(tiny_backbone):
    from sentimentkit.encoders.text import load_tokenizer

    model = make("prompt-tuning", tiny_backbone, prompt_init="text", prompt_init_text="terrible or great")
    peft_model = model.encoder.model
    ids = load_tokenizer(tiny_backbone)(["terrible or great"], add_special_tokens=False)["input_ids"][0]
    assert len(ids) == 3
    expected = peft_model.word_embeddings.weight[[*ids, ids[0]]]  # cycled to P = 4
    torch.testing.assert_close(peft_model.prompt_encoder["default"].embedding.weight, expected)


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    [
        ("prompt-tuning", {"prompt_intit": "text"}, "model.prompt_intit"),
        ("prompt-tuning", {"encoder_hidden_size": 8}, "model.encoder_hidden_size"),  # a p-tuning setting
        ("p-tuning", {"prompt_init": "text"}, "model.prompt_init"),  # a prompt-tuning setting
        ("prompt-tuning", {"prompt_init": "vocab"}, "model.prompt_init 'vocab'"),
        ("prompt-tuning", {"prompt_init": "text"}, "model.prompt_init_text is empty"),
        ("prompt-tuning", {"prompt_init_text": "great"}, "prompt_init is 'random'"),
        ("p-tuning", {"pooling": "max"}, "model.pooling 'max'"),
        ("p-tuning", {"num_virtual_tokens": 0}, "model.num_virtual_tokens"),
    ],
)
def test_bad_configs_fail_naming_the_key(tiny_backbone, kind, changes, message):
    with pytest.raises(ConfigError, match=message):
        make(kind, tiny_backbone, **changes)


def test_inputs_too_long_for_the_backbone_with_the_prompt_get_a_clear_error(tiny_backbone):
    model = make("p-tuning", tiny_backbone).eval()  # the tiny backbone has 128 positions
    ids = torch.full((1, 126), 1010)
    with pytest.raises(ValueError, match="set data.max_length to at most 124"):
        model(TextBatch(input_ids=ids, attention_mask=torch.ones_like(ids)))


@pytest.mark.parametrize("kind", KINDS)
def test_overfits_saves_and_reloads_to_the_same_logits(tiny_backbone, tmp_path, kind):
    from tests.training.test_trainer import toy_data

    meta = {"model": section(kind, tiny_backbone), "labels": list(BINARY.names), "max_length": 16}

    def save(model, directory, metrics: dict) -> None:
        save_checkpoint(model, directory, meta)

    args = TrainConfig(epochs=10, batch_size=4, lr=3e-2, warmup_ratio=0.1, patience=None, seed=3)
    data = toy_data()
    model = make(kind, tiny_backbone)
    frozen_before = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    prompt_before = model.encoder.model.prompt_encoder["default"].embedding.weight.clone()
    head = MODELS.get(kind).head(model)
    trainer = Trainer(model, TASK, data, data, args, tmp_path, save_best=save, head=head, progress=False)
    assert trainer.fit().best_metric == 1.0
    logits = predict_logits(model, data)
    assert (logits.argmax(-1) == np.array([x.label for x in data])).all()
    assert all(torch.equal(p, frozen_before[n]) for n, p in model.named_parameters() if not p.requires_grad)
    assert not torch.equal(model.encoder.model.prompt_encoder["default"].embedding.weight, prompt_before)
    save_checkpoint(model, tmp_path / "final", meta)
    torch.manual_seed(123)  # the rebuilt prompt starts elsewhere; the saved tensors overwrite it
    reloaded, _ = load_checkpoint(tmp_path / "final")
    np.testing.assert_allclose(predict_logits(reloaded, data), logits, atol=1e-5)


def test_importing_the_models_does_not_import_peft():
    code = "import sys, sentimentkit.models as m; assert 'p-tuning' in m.MODELS.names(); print('peft' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("kind", KINDS)
def test_the_sst5_configs_build(tiny_backbone, kind):
    """Every key is valid and the build-time checks pass (on the tiny backbone instead of MiniLM)."""
    from sentimentkit.config import load_config
    from tests.conftest import REPO

    config = load_config(REPO / "configs" / f"{kind}.yaml")
    assert config.model["type"] == kind and config.data.train == "sst5"
    model = build_model({**config.model, "backbone": tiny_backbone}, BINARY)
    assert model.encoder.num_virtual_tokens == config.model["num_virtual_tokens"]
