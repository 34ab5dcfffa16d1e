"""Aspect term extraction: which words of a sentence are aspect terms (BIO tags), scored by exact span match.

Training items cut words at the gold term boundaries; validation, test and inference items see the plain words
only (see `data/tagging.py`). The validation metric is span F1 (`f1_ate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import DataConfig, ExperimentConfig
from ..data.align import word_spans
from ..data.collate import TagBatch, pad_tag_batch
from ..data.datasets import DATASETS, load_dataset
from ..data.encoding import Tokenizer
from ..data.preprocess import DEFAULT_EMOJI, check_emoji_mode
from ..data.tagging import TagItem, decode_spans, encode_evaluation, encode_training, encode_words
from ..hub import Manifest
from ..labels import LabelSet
from ..metrics import span_metrics
from ..types import AspectSentence, Prediction, Span
from .base import TASKS, Metrics, Outputs, TrainingData, forward_batches, refuse_class_weights, subset

if TYPE_CHECKING:
    from torch import nn

    from ..models.base import Runtime


@dataclass
class AspectExtraction:
    name: ClassVar[str] = "aspect-extraction.v1"
    metric: ClassVar[str] = "f1_ate"

    labels: LabelSet
    tokenizer: Tokenizer
    max_length: int = DataConfig.max_length
    emoji: str = DEFAULT_EMOJI  # how emoji reach the tokenizer (`data/preprocess.py`)

    @classmethod
    def for_training(cls, config: ExperimentConfig, model_config: Any) -> tuple[AspectExtraction, TrainingData]:
        from ..encoders.text import load_tokenizer

        refuse_class_weights(config, cls.name)
        data = config.data
        task = cls(
            DATASETS.get(data.train).labels, load_tokenizer(model_config.backbone), data.max_length,
            check_emoji_mode(data.emoji),
        )  # fmt: skip
        train = task.examples(data.train, "train", data.data_dir)
        validation = task.examples(data.validation or data.train, "validation", data.data_dir)
        train = subset(train, data.train_subset, config.train.seed)
        return task, TrainingData(task.encode(train), task.encode_for_scoring(validation))

    @classmethod
    def from_manifest(cls, manifest: Manifest, runtime: Runtime) -> tuple[AspectExtraction, nn.Module]:
        from ..models.base import load_checkpoint, load_model_tokenizer

        model, manifest = load_checkpoint(manifest, runtime)
        return cls.for_inference(manifest, load_model_tokenizer(manifest, runtime)), model

    @classmethod
    def for_inference(cls, manifest: Manifest, tokenizer: Tokenizer) -> AspectExtraction:
        """The task of a model folder, with its tokenizer already loaded (no model, no torch: ONNX folders too)."""
        pre = manifest.preprocessing
        return cls(
            manifest.labels,
            tokenizer,
            int(pre.get("max_length", DataConfig.max_length)),
            check_emoji_mode(str(pre.get("emoji", DEFAULT_EMOJI))),
        )

    def preprocessing(self) -> dict[str, Any]:
        return {"max_length": self.max_length, "emoji": self.emoji}

    def examples(self, source: str, split: str, data_dir: str | None = None) -> list[AspectSentence]:
        spec = DATASETS.get(source)
        if spec.task != self.name:
            raise ValueError(f"dataset {source!r} ({spec.scheme}) is not an aspect-extraction dataset")
        return load_dataset(source, split, data_dir)

    def encode(self, examples: Sequence[AspectSentence]) -> list[TagItem]:
        """Training items: words cut at the gold term boundaries, BIO tag ids on each word's first subword."""
        return encode_training(self.tokenizer, examples, self.labels, self.max_length, self.emoji)

    def encode_for_scoring(self, examples: Sequence[AspectSentence]) -> list[TagItem]:
        """Items on plain words (what inference sees), carrying the gold spans to score against."""
        return encode_evaluation(self.tokenizer, examples, self.labels, self.max_length, self.emoji)

    def length(self, item: TagItem) -> int:
        return len(item.input_ids)

    def collate(self, items: Sequence[TagItem]) -> TagBatch:
        return pad_tag_batch(items)

    def spans(self, outputs: Outputs, items: Sequence[TagItem]) -> list[list[Span]]:
        """Predicted term spans per item: the argmax tag of each word's first subword (truncated words: O)."""
        out: list[list[Span]] = [[] for _ in items]
        for idx, output in outputs:
            best = output.logits.argmax(-1).tolist()  # (B, T)
            for row, i in enumerate(idx):
                tags = [self.labels.name(best[row][p]) if p >= 0 else "O" for p in items[i].word_starts]
                out[i] = decode_spans(items[i].word_spans, tags)
        return out

    def score(self, outputs: Outputs, items: Sequence[TagItem]) -> Metrics:
        return span_metrics(self.spans(outputs, items), [x.gold for x in items])

    def evaluate(self, model: nn.Module, examples: Sequence[AspectSentence], batch_size: int) -> Metrics:
        items = self.encode_for_scoring(examples)
        return self.score(list(forward_batches(model, self, items, batch_size)), items)

    def extract(self, model: nn.Module, texts: Sequence[str], batch_size: int) -> list[list[Span]]:
        """The aspect term spans of each text (character offsets into that text)."""
        words = [word_spans(text) for text in texts]
        items = encode_words(self.tokenizer, texts, words, None, self.labels, self.max_length, emoji=self.emoji)
        return self.spans(list(forward_batches(model, self, items, batch_size)), items)

    def predict(self, model: nn.Module, inputs: Sequence[Any], batch_size: int, **options: Any) -> list[Prediction]:
        """The terms of each input as aspects without polarity (an extractor alone has none to give)."""
        raise TypeError(
            "an aspect-term extractor alone does not predict sentiment; load the aspect model it belongs to "
            "(such as absa-en), which pairs it with a polarity model"
        )


TASKS.add(AspectExtraction.name, AspectExtraction)
