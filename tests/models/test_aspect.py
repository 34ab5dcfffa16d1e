"""Aspect-polarity models (iagcn, its ablations, asgcn, spc): output shapes, that each ablation switches off
exactly its part, and a train-save-reload round trip through the project's Trainer on hand-parsed sentences."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from sentimentkit.config import ConfigError, TrainConfig
from sentimentkit.data.collate import AspectBatch, pad_aspect_batch
from sentimentkit.data.encoding import encode_aspect_examples
from sentimentkit.encoders.text import load_tokenizer
from sentimentkit.labels import POLARITY3
from sentimentkit.models import MODELS, build_model, load_checkpoint, save_checkpoint
from sentimentkit.models.aspect import AspectGraphClassifier, SentencePairClassifier
from sentimentkit.tasks.aspect import AspectPolarity
from sentimentkit.training.trainer import Trainer
from sentimentkit.types import AspectExample, DepParse
from tests.training.test_trainer import predict_logits

KINDS = ("iagcn", "iagcn-no-mdw", "iagcn-no-gcn", "iagcn-no-interactive", "asgcn", "spc")
SMALL = {"lstm_hidden": 8, "dropout": 0.0}


def parsed(text: str, heads: tuple[int, ...], aspects: dict[str, str]) -> list[tuple[AspectExample, DepParse]]:
    """One example per (aspect, polarity), each with the same hand-written parse of the whitespace words."""
    words = tuple(text.split())
    parse = DepParse(words=words, heads=heads, deprels=("dep",) * len(words))
    out = []
    for aspect, polarity in aspects.items():
        start = text.index(aspect)
        out.append((AspectExample(text, aspect, ((start, start + len(aspect)),), polarity), parse))
    return out


# Two sentences hold two aspects of opposite polarity: the aspect, not the sentence, decides the label.
PAIRS = [
    *parsed("the food was great", (2, 4, 4, 0), {"food": "positive"}),
    *parsed("the service was awful", (2, 4, 4, 0), {"service": "negative"}),
    *parsed("the room is okay", (2, 4, 4, 0), {"room": "neutral"}),
    *parsed("great pizza but awful staff", (2, 0, 5, 5, 2), {"pizza": "positive", "staff": "negative"}),
    *parsed("awful coffee but great cake", (2, 0, 5, 5, 2), {"coffee": "negative", "cake": "positive"}),
    *parsed("an average table , nothing more", (3, 3, 0, 3, 3, 5), {"table": "neutral"}),
]
EXAMPLES = [example for example, _ in PAIRS]
PARSES = [parse for _, parse in PAIRS]


@pytest.fixture(scope="module")
def tokenizer(tiny_backbone):
    return load_tokenizer(tiny_backbone)


def section(kind: str, backbone: str, **changes) -> dict:
    base = {"type": kind, "backbone": backbone, "dropout": 0.0}
    return {**base, **({} if kind == "spc" else SMALL), **changes}


def model_of(kind: str, backbone: str, **changes):
    torch.manual_seed(0)
    return build_model(section(kind, backbone, **changes), POLARITY3).eval()


def task_for(tokenizer, kind: str) -> AspectPolarity:
    """The aspect-polarity task as it is set up for `kind` (pair or sentence input, graph or not)."""
    config = MODELS.get(kind).config_cls
    return AspectPolarity(POLARITY3, tokenizer, config.uses_graph, config.input_format == "pair", max_length=32)


def encode(tokenizer, kind: str):
    task = task_for(tokenizer, kind)
    parses = PARSES if task.uses_graph else None
    label_ids = [POLARITY3.id(x.polarity) for x in EXAMPLES]
    return encode_aspect_examples(tokenizer, EXAMPLES, parses, label_ids, 32, pair=task.pair)


def batch_for(tokenizer, kind: str) -> AspectBatch:
    return pad_aspect_batch(encode(tokenizer, kind)).without_labels()


def logits(model, batch: AspectBatch) -> torch.Tensor:
    with torch.no_grad():
        return model(batch).logits


def test_a_bf16_training_step_trains_the_bilstm(tiny_backbone, tokenizer):
    """Under bf16 autocast the CPU LSTM has no training kernel (oneDNN, torch 2.13); the model runs it in float32
    so that a `train.bf16: true` config (the shipped absa-en recipe) trains."""
    model = model_of("iagcn", tiny_backbone).train()
    first = encode(tokenizer, "iagcn")[0]
    batch = pad_aspect_batch([first] * 3)  # rows of one length: the packed batch oneDNN rejects in float32
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.head.lstm.weight_ih_l0.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_forward_shapes_and_loss(tiny_backbone, tokenizer, kind):
    model = model_of(kind, tiny_backbone)
    batch = pad_aspect_batch(encode(tokenizer, kind))
    out = model(batch)
    assert out.logits.shape == (len(EXAMPLES), 3)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert torch.allclose(out.loss, torch.nn.functional.cross_entropy(out.logits, batch.labels))
    assert model(batch.without_labels()).loss is None
    assert MODELS.get(kind).task == "aspect-polarity.v1"


def test_gcn_models_depend_on_the_graph_and_no_gcn_does_not(tiny_backbone, tokenizer):
    batch = batch_for(tokenizer, "iagcn")
    other = replace(batch, adjacency=torch.ones_like(batch.adjacency))
    for kind in ("iagcn", "iagcn-no-mdw", "iagcn-no-interactive", "asgcn"):
        model = model_of(kind, tiny_backbone)
        assert not torch.allclose(logits(model, batch), logits(model, other)), kind
    no_gcn = model_of("iagcn-no-gcn", tiny_backbone)
    assert not [n for n, _ in no_gcn.named_parameters() if "gcn" in n]
    assert torch.equal(logits(no_gcn, batch), logits(no_gcn, other))
    assert torch.equal(logits(no_gcn, batch), logits(no_gcn, replace(batch, adjacency=None)))
    with pytest.raises(ValueError, match="encode the examples with parses"):
        model_of("iagcn", tiny_backbone)(replace(batch, adjacency=None))


def test_no_mdw_is_iagcn_with_both_weights_at_one(tiny_backbone, tokenizer):
    batch = batch_for(tokenizer, "iagcn")
    no_mdw = logits(model_of("iagcn-no-mdw", tiny_backbone), batch)
    assert torch.allclose(no_mdw, logits(model_of("iagcn", tiny_backbone, context_weight=1.0), batch))
    assert not torch.allclose(no_mdw, logits(model_of("iagcn", tiny_backbone), batch))
    with pytest.raises(ConfigError, match="unknown key.*context_weight"):
        model_of("iagcn-no-mdw", tiny_backbone, context_weight=0.5)


def test_position_weighting_switch(tiny_backbone, tokenizer):
    batch = batch_for(tokenizer, "iagcn")
    flat = replace(batch, position_weights=torch.ones_like(batch.position_weights))
    weighted = model_of("iagcn", tiny_backbone)
    assert not torch.allclose(logits(weighted, batch), logits(weighted, flat))
    unweighted = model_of("iagcn", tiny_backbone, position_weighting=False)
    assert torch.equal(logits(unweighted, batch), logits(unweighted, flat))


def test_no_interactive_is_iagcn_with_uniform_attention(tiny_backbone, tokenizer):
    full, plain = model_of("iagcn", tiny_backbone), model_of("iagcn-no-interactive", tiny_backbone)
    assert not any("attention" in n for n, _ in plain.head.named_parameters())
    assert full.head.classifier.in_features == plain.head.classifier.in_features == 32  # 2 x (2 x lstm_hidden)
    shared = {k: v for k, v in full.state_dict().items() if "_attention." not in k}
    assert set(shared) == set(plain.state_dict())
    plain.load_state_dict(shared)
    batch = batch_for(tokenizer, "iagcn")
    assert not torch.allclose(logits(full, batch), logits(plain, batch))
    with torch.no_grad():  # scores tanh(0) = 0 everywhere: each attention becomes a plain mean
        for attention in (full.head.context_attention, full.head.aspect_attention):
            attention.proj.weight.zero_()
            attention.proj.bias.zero_()
    assert torch.allclose(logits(full, batch), logits(plain, batch), atol=1e-6)


def test_spc_reads_the_aspect_segment(tiny_backbone, tokenizer):
    model = model_of("spc", tiny_backbone)
    assert isinstance(model, SentencePairClassifier)
    batch = batch_for(tokenizer, "spc")
    assert batch.adjacency is None and batch.token_type_ids.sum() > 0
    assert not torch.allclose(logits(model, batch), logits(model, replace(batch, token_type_ids=None)))
    graph_model = model_of("asgcn", tiny_backbone)
    assert isinstance(graph_model, AspectGraphClassifier)
    with pytest.raises(ValueError, match="pair=False"):  # a graph model reads the sentence alone
        graph_model(batch)


def test_ablation_settings_are_checked(tiny_backbone):
    with pytest.raises(ValueError, match="gcn_layers must be >= 1"):
        model_of("iagcn", tiny_backbone, gcn_layers=0)
    with pytest.raises(ConfigError, match="unknown key.*gcn_layers"):
        model_of("iagcn-no-gcn", tiny_backbone, gcn_layers=2)
    deep = model_of("asgcn", tiny_backbone, gcn_layers=3)
    assert len(deep.head.gcn) == 3 and deep.head.mdw is None


# Full batches at a constant rate; the BiLSTM, GCN and attention start from scratch, so they (the `head`) learn at
# head_lr while the encoder moves slowly (a fast-moving encoder collapses the states that the attention separates).
ARGS = TrainConfig(
    epochs=60, batch_size=8, lr=1e-4, head_lr=1e-2, schedule="constant", patience=None, warmup_ratio=0.0, seed=1
)


@pytest.mark.parametrize("kind", KINDS)
def test_overfits_saves_and_reloads(tiny_backbone, tokenizer, tmp_path, kind):
    items = encode(tokenizer, kind)
    task = task_for(tokenizer, kind)
    model_section = section(kind, tiny_backbone)
    torch.manual_seed(0)
    model = build_model(model_section, POLARITY3)
    saved = {}

    def save(module, directory, metrics):
        save_checkpoint(module, directory, {"model": model_section, "labels": list(POLARITY3.names)})
        saved["logits"] = predict_logits(module, items, task)

    args = replace(ARGS, lr=1e-3) if kind == "spc" else ARGS  # spc's head is one linear layer: the encoder learns
    head = MODELS.get(kind).head(model)  # the BiLSTM, GCN and attention (or spc's linear layer) train at head_lr
    result = Trainer(model, task, items, items, args, tmp_path, save_best=save, head=head, progress=False).fit()
    assert result.best_metric == 1.0
    reloaded, manifest = load_checkpoint(tmp_path / "best")
    assert manifest.model["type"] == kind and manifest.task == "aspect-polarity.v1"
    reloaded_logits = predict_logits(reloaded, items, task)
    assert np.allclose(reloaded_logits, saved["logits"], atol=1e-5)
    assert (reloaded_logits.argmax(-1) == [x.label for x in items]).all()
