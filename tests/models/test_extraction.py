"""The `ate` tagger: output shapes, a loss over first subwords only, and a train-save-reload round trip through the
project's Trainer that reaches span F1 1.0 on a handful of hand-tagged sentences."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from sentimentkit.config import TrainConfig
from sentimentkit.data.collate import TagBatch, pad_tag_batch
from sentimentkit.data.datasets import ASPECT_BIO
from sentimentkit.data.tagging import encode_evaluation, encode_training
from sentimentkit.encoders.text import load_tokenizer
from sentimentkit.models import MODELS, build_model, load_checkpoint, save_checkpoint
from sentimentkit.models.extraction import TokenTagger
from sentimentkit.tasks.base import forward_batches
from sentimentkit.tasks.extraction import AspectExtraction
from sentimentkit.training.trainer import Trainer
from sentimentkit.types import AspectSentence, AspectTerm


def sentence(text: str, *terms: str) -> AspectSentence:
    """A sentence with the first occurrence of each term marked."""
    spans = []
    for term in terms:
        start = text.index(term)
        spans.append(AspectTerm(term, start, start + len(term)))
    return AspectSentence(text, tuple(spans))


SENTENCES = [
    sentence("The pizza was great.", "pizza"),
    sentence("Great sushi, but slow service!", "sushi", "service"),
    sentence("The battery life is short", "battery life"),
    sentence("I love the screen", "screen"),
    sentence("Nothing more to say."),
    sentence("The waiter brought the wine list", "waiter", "wine list"),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_backbone):
    return load_tokenizer(tiny_backbone)


def section(backbone: str) -> dict:
    return {"type": "ate", "backbone": backbone, "dropout": 0.0}


def logits_of(model, items) -> torch.Tensor:
    batch = pad_tag_batch(items).without_labels()
    with torch.no_grad():
        return model.eval()(batch).logits


def test_forward_shapes_and_loss_on_first_subwords(tiny_backbone, tokenizer):
    torch.manual_seed(0)
    model = build_model(section(tiny_backbone), ASPECT_BIO)
    assert isinstance(model, TokenTagger) and MODELS.get("ate").task == "aspect-extraction.v1"
    batch = pad_tag_batch(encode_training(tokenizer, SENTENCES, ASPECT_BIO, 32))
    assert isinstance(batch, TagBatch)
    out = model(batch)
    assert out.logits.shape == (*batch.input_ids.shape, 3)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert (batch.labels[:, 0] == -100).all()  # [CLS] carries no label
    assert (batch.labels != -100).sum(1).tolist() == [5, 7, 5, 4, 5, 6]  # one label per word
    nothing = model(replace(batch, labels=torch.full_like(batch.labels, -100))).loss
    assert nothing.item() == 0.0  # no labelled token: a zero loss, not NaN
    assert model(batch.without_labels()).loss is None


# Full batches at a constant rate: the random tiny encoder and the head both learn fast.
ARGS = TrainConfig(
    epochs=60, batch_size=8, lr=1e-3, head_lr=1e-2, schedule="constant", patience=None, warmup_ratio=0.0, seed=1,
    metric="f1_ate",
)  # fmt: skip


def test_overfits_saves_and_reloads(tiny_backbone, tokenizer, tmp_path):
    task = AspectExtraction(ASPECT_BIO, tokenizer, max_length=32)
    train = task.encode(SENTENCES)
    validation = task.encode_for_scoring(SENTENCES)
    assert train == encode_training(tokenizer, SENTENCES, ASPECT_BIO, 32)
    assert validation == encode_evaluation(tokenizer, SENTENCES, ASPECT_BIO, 32)
    torch.manual_seed(0)
    model = build_model(section(tiny_backbone), ASPECT_BIO)
    saved = {}

    def save(module, directory, metrics):
        meta = {"model": section(tiny_backbone), "labels": list(ASPECT_BIO.names), "max_length": 32}
        save_checkpoint(module, directory, meta)
        saved["logits"] = logits_of(module, validation)

    head = MODELS.get("ate").head(model)
    result = Trainer(model, task, train, validation, ARGS, tmp_path, save_best=save, head=head, progress=False).fit()
    assert result.best_metric == 1.0
    assert result.best_metrics["gold"] == 7 and result.best_metrics["correct"] == 7
    reloaded, manifest = load_checkpoint(tmp_path / "best")
    assert manifest.model["type"] == "ate" and manifest.task == "aspect-extraction.v1"
    assert manifest.labels == ASPECT_BIO and manifest.preprocessing["max_length"] == 32
    assert torch.allclose(logits_of(reloaded, validation), saved["logits"], atol=1e-5)
    assert task.score(list(forward_batches(reloaded, task, validation, 4)), validation)["f1_ate"] == 1.0
    assert task.evaluate(reloaded, SENTENCES, batch_size=4)["f1_ate"] == 1.0
    texts = [s.text for s in SENTENCES]
    found = task.extract(reloaded, texts, batch_size=4)
    assert found == [[(t.start, t.end) for t in s.terms] for s in SENTENCES]
    assert [[text[a:b] for a, b in spans] for text, spans in zip(texts, found, strict=True)] == [
        [t.term for t in s.terms] for s in SENTENCES
    ]
