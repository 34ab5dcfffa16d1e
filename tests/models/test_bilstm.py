"""`bilstm-attn`: masked attention, padding invariance, config errors, train-save-reload, and the CLI round trip
(train -> evaluate -> analyze) through the runner's word vocabulary."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sentimentkit.config import ConfigError, TrainConfig
from sentimentkit.data.collate import TextBatch, pad_batch
from sentimentkit.data.encoding import TextItem, encode_texts
from sentimentkit.data.vocab import WordVocab
from sentimentkit.labels import BINARY
from sentimentkit.models import MODELS, build_model, load_checkpoint, save_checkpoint
from sentimentkit.training.trainer import Trainer
from tests.training.test_trainer import TASK, predict_logits

SMALL = {"type": "bilstm-attn", "embedding_dim": 8, "hidden_size": 6, "attention_dim": 4, "dropout": 0.1}
LENGTHS = [7, 4, 2]


def small_model(vocab_size: int = 30, **changes):
    torch.manual_seed(0)
    return build_model({**SMALL, "vocab_size": vocab_size, **changes}, BINARY).eval()


def padded_batch(vocab_size: int = 30) -> TextBatch:
    """Random ids with right padding of lengths LENGTHS, as `pad_batch` makes them (no targets)."""
    generator = torch.Generator().manual_seed(1)
    items = [TextItem(tuple(torch.randint(4, vocab_size, (n,), generator=generator).tolist())) for n in LENGTHS]
    batch = pad_batch(items)
    assert batch.labels is None
    return batch


def row(batch: TextBatch, i: int, n: int) -> TextBatch:
    """Row i of the batch alone, without its padding."""
    return TextBatch(input_ids=batch.input_ids[i : i + 1, :n], attention_mask=batch.attention_mask[i : i + 1, :n])


def test_attention_sums_to_one_over_real_tokens_and_is_zero_on_padding():
    model = small_model()
    batch = padded_batch()
    with torch.no_grad():
        out = model(batch)
    weights = out.extras["attention"]
    mask = batch.attention_mask.bool()
    assert weights.shape == mask.shape and out.loss is None
    torch.testing.assert_close(weights.sum(-1), torch.ones(len(LENGTHS)))
    assert (weights[~mask] == 0).all() and (weights[mask] > 0).all()
    kept = weights.clone()
    with torch.no_grad():
        alone = model(row(batch, 2, LENGTHS[2])).extras["attention"]  # each call returns its own weights
    assert alone.shape == (1, LENGTHS[2])
    torch.testing.assert_close(alone[0], weights[2, : LENGTHS[2]], atol=1e-6, rtol=1e-5)
    assert torch.equal(weights, kept)  # a later call leaves an earlier output alone


def test_logits_do_not_depend_on_padding():
    """Packing and masking: each row alone gives the logits it gets inside a padded batch."""
    model = small_model()
    batch = padded_batch()
    with torch.no_grad():
        together = model(batch).logits
        for i, n in enumerate(LENGTHS):
            alone = model(row(batch, i, n)).logits
            torch.testing.assert_close(alone[0], together[i], atol=1e-6, rtol=1e-5)


def test_a_bf16_training_step_runs_the_lstm_in_float32():
    """Under bf16 autocast the CPU LSTM (oneDNN, torch 2.13) can have no kernel; the model runs it in float32."""
    model = small_model().train()
    # rows of one length: the packed batch oneDNN rejects in float32 under autocast (mixed lengths happen to pass)
    batch = pad_batch([TextItem((5, 6, 7, 8), label=k) for k in (0, 1, 0)])
    before = model.lstm.weight_ih_l0.detach().clone()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.lstm.weight_ih_l0.grad.abs().sum() > 0
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert not torch.equal(before, model.lstm.weight_ih_l0)


def test_two_layers_and_every_parameter_trains():
    model = small_model(num_layers=2)
    prefixes = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert prefixes == {"embedding", "lstm", "attention", "head"}
    assert all(p.requires_grad for p in model.parameters())
    assert model.lstm.num_layers == 2 and model.lstm.bidirectional


@pytest.mark.parametrize("size", [0, 4])
def test_a_vocabulary_of_only_specials_is_refused(size):
    with pytest.raises(ConfigError, match="model.vocab_size"):
        small_model(vocab_size=size)


def test_unknown_and_misspelled_keys_fail():
    with pytest.raises(ConfigError, match="model.hiden_size"):
        small_model(hiden_size=8)
    with pytest.raises(ConfigError, match="model.backbone"):
        small_model(backbone="minilm")  # a BiLSTM has no pretrained backbone


def test_overfits_saves_and_reloads_to_the_same_logits(tmp_path):
    texts = [f"{w} movie number {i}" for i in range(8) for w in ("great", "dreadful")]
    label_ids = [i % 2 for i in range(len(texts))]  # "great" positive, "dreadful" negative
    vocab = WordVocab.build(texts, min_freq=1)
    items = encode_texts(vocab, texts, 16)
    data = [replace(item, label=y) for item, y in zip(items, label_ids, strict=True)]
    section = {**SMALL, "vocab_size": len(vocab)}
    meta = {"model": section, "labels": list(BINARY.names), "max_length": 16}

    def save(model, directory, metrics: dict) -> None:
        save_checkpoint(model, directory, meta)

    args = TrainConfig(epochs=15, batch_size=4, lr=1e-2, warmup_ratio=0.0, patience=None, seed=3)
    torch.manual_seed(0)
    model = build_model(section, BINARY)
    head = MODELS.get("bilstm-attn").head(model)
    trainer = Trainer(model, TASK, data, data, args, tmp_path, save_best=save, head=head, progress=False)
    assert trainer.fit().best_metric == 1.0
    logits = predict_logits(trainer.model, data)
    assert (logits.argmax(-1) == np.array(label_ids)).all()
    assert (trainer.model.embedding.weight[0] == 0).all()  # the padding row neither trains nor decays
    save_checkpoint(trainer.model, tmp_path / "final", meta)
    torch.manual_seed(123)  # the rebuilt model starts elsewhere; the saved tensors overwrite all of it
    reloaded, _ = load_checkpoint(tmp_path / "final")
    np.testing.assert_allclose(predict_logits(reloaded, data), logits, atol=1e-6)


def test_train_evaluate_and_analyze_with_the_cli(tmp_path):
    """The runner builds the vocabulary, sets vocab_size, saves vocab.json; evaluate and the Pipeline use it."""
    from tests.test_cli import run

    rows = ["text,label"] + [
        f"{w} thing {i},{lab}" for i in range(12) for w, lab in (("nice", "pos"), ("awful", "neg"))
    ]
    data = tmp_path / "mine.csv"
    data.write_text("\n".join(rows) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        "model: {type: bilstm-attn, embedding_dim: 16, hidden_size: 16, attention_dim: 8, min_freq: 1}\n"
        f"data: {{train: {data}, validation: {data}, max_length: 16}}\n"
        "train: {epochs: 10, batch_size: 8, lr: 0.01, warmup_ratio: 0.0, patience: null}\n"
        f"output: {tmp_path / 'run'}\n"
    )
    result = run("train", str(config), "--no-progress")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["validation"]["accuracy"] == 1.0
    best = tmp_path / "run" / "best"
    vocab = WordVocab.load(best)
    meta = json.loads((best / "config.json").read_text())
    assert meta["model"]["vocab_size"] == len(vocab) == 4 + 2 + 1 + 12  # specials, nice/awful, thing, 0-11
    evaluated = run("evaluate", str(best), str(data))
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["accuracy"] == 1.0
    predicted = run("analyze", "nice thing", "an awful, unseen thing", "--json", "--model", str(best))
    assert predicted.exit_code == 0, predicted.output
    assert [json.loads(line)["label"] for line in predicted.stdout.splitlines()] == ["pos", "neg"]


def test_the_sst5_config_builds():
    from sentimentkit.config import load_config
    from tests.conftest import REPO

    config = load_config(REPO / "configs" / "bilstm-attn.yaml")
    assert config.data.train == "sst5" and config.data.max_length == 128
    model = build_model({**config.model, "vocab_size": 100}, BINARY)
    assert model.lstm.hidden_size == 256 and model.embedding.embedding_dim == 300
