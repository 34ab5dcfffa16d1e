"""Encoder pretraining tasks on unlabelled text: SKESL's sentiment-word intensity and the masked-LM control.

Text: `data.train` names the unlabelled source: "imdb-unsup" (the 50,000 unlabelled IMDb reviews), a named text
dataset (its training texts, labels ignored), or the user's file (.txt: one text per line; .csv/.jsonl: the
`data.text_field` column). Every text is cut into sentences; sentences of fewer than `model.min_words` words are not
used. The sentences are put in one fixed order (a shuffle with seed 0, whatever the training seed), the first
`model.heldout` (at most 5 %) are held out for selection, and `data.train_subset` takes the first N of the rest, so a
smaller pool is a subset of every larger one (the data-size study).

Selection: SKESL on the held-out L1 of the intensity ("mae"); MLM on the held-out cross-entropy ("loss"). Every
saved best model folder also holds `encoder/` (the encoder alone, adapters merged, with its tokenizer: a backbone
folder) and `pretraining.json` (the masking statistics and data counts); `model.init_from: FOLDER` in any config
starts from that encoder.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..config import ConfigError, ExperimentConfig
from ..data.align import sentence_spans
from ..data.datasets import DATASETS, data_dir, load_dataset
from ..data.masking import (
    MaskedBatch,
    MaskingStats,
    MlmItem,
    SentimentWordMasker,
    collate_intensity,
    collate_mlm,
    fix_fallbacks,
    fix_mlm,
)
from ..hub import Manifest
from ..models.pretraining import MLM_TASK, PRETRAINING_LABELS, SKESL_TASK
from .base import TASKS, Metrics, Outputs, TrainingData, refuse_class_weights

if TYPE_CHECKING:
    from torch import nn

    from ..models.base import Runtime

UNSUP = "imdb-unsup"
HELDOUT_SHARE = 0.05
ORDER_SEED = 0  # the sentence order: the same held-out slice and nested subsets for every run on the same text
VALIDATION_SEED = 1234  # fixed masks of the held-out sentences
ENCODER_DIR = "encoder"
INFO_FILE = "pretraining.json"
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def unlabelled_texts(source: str, root: str | None, text_field: str = "text") -> list[str]:
    """The raw texts of an unlabelled source (see the module docstring); a file's bad line is an error naming it."""
    if source == UNSUP:
        from ..data.readers import read_imdb_csv

        path = data_dir(root) / "imdb" / "unsup.csv.xz"
        if not path.exists():
            raise FileNotFoundError(f"{path}: the unlabelled IMDb reviews are missing from the data folder")
        return [x.text for x in read_imdb_csv(path)]
    if source in DATASETS:
        return [x.text for x in load_dataset(source, "train", root) if getattr(x, "text", "")]
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{source!r} is neither {UNSUP!r}, a named dataset, nor an existing file")
    from ..data.readers import read_text_lines, read_texts_csv, read_texts_jsonl

    suffixes = [s for s in path.suffixes if s not in (".xz", ".gz", ".bz2")]
    kind = suffixes[-1] if suffixes else ".txt"
    if kind == ".csv":
        return [x.text for x in read_texts_csv(path, text_field)]
    if kind == ".jsonl":
        return [x.text for x in read_texts_jsonl(path, text_field)]
    return [x.text for x in read_text_lines(path)]


def sentences(texts: Sequence[str], min_words: int) -> list[str]:
    """Every text cut into sentences (HTML line breaks are sentence breaks); short ones dropped."""
    out = []
    for text in texts:
        for part in _BREAK.split(text):
            for a, b in sentence_spans(part):
                sentence = " ".join(part[a:b].split())
                if len(sentence.split()) >= min_words:
                    out.append(sentence)
    return out


def split_pool(pool: list[str], heldout: int, subset: int | None) -> tuple[list[str], list[str]]:
    """(training sentences, held-out sentences) in the fixed order; `subset`: the first N training sentences."""
    order = list(pool)
    random.Random(ORDER_SEED).shuffle(order)
    n_held = min(heldout, max(1, int(len(order) * HELDOUT_SHARE)))
    held, train = order[:n_held], order[n_held:]
    if subset is not None:
        if subset < 1:
            raise ConfigError(f"data.train_subset must be >= 1, got {subset}")
        train = train[:subset]
    if not train:
        raise ValueError("no training sentences are left after the held-out slice; give more text")
    return train, held


def vader_path(name: str, root: str | None) -> Path:
    """The lexicon file: a path, or "vader": the data folder's copy, else the vaderSentiment package's."""
    if name != "vader":
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"model.lexicon {name!r}: no such file (a VADER-format lexicon)")
        return path
    try:
        path = data_dir(root) / "lexicons" / "vader" / "vader_lexicon.txt"
        if path.exists():
            return path
    except FileNotFoundError:
        pass
    try:
        import vaderSentiment

        path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
        if path.exists():
            return path
    except ImportError:
        pass
    raise FileNotFoundError(
        "model.lexicon 'vader': neither the data folder's lexicons/vader/vader_lexicon.txt nor the vaderSentiment "
        "package was found; give model.lexicon a path"
    )


def export_encoder(folder: str | Path) -> Path:
    """Write `folder/encoder/`: the pretrained encoder of the checkpoint in `folder` (adapters merged) and its
    tokenizer, as a backbone folder any config can name. Returns its path."""
    from ..encoders.text import load_tokenizer, quiet_transformers
    from ..hub import read_manifest
    from ..models.base import Runtime, load_checkpoint

    folder = Path(folder)
    model, manifest = load_checkpoint(read_manifest(folder), Runtime("transformers"))
    model.encoder.merge_adapters()
    target = folder / ENCODER_DIR
    with quiet_transformers():
        model.encoder.model.save_pretrained(str(target))
    load_tokenizer(str(manifest.model.get("backbone", "minilm"))).save_pretrained(str(target))
    return target


@dataclass
class _Pretraining:
    """What both pretraining tasks share: reading and splitting the text, and what is saved with the best model."""

    labels: Any = PRETRAINING_LABELS
    tokenizer: Any = None
    max_length: int = 40
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _read(cls, config: ExperimentConfig, model_config: Any) -> tuple[list[str], list[str], dict[str, Any]]:
        refuse_class_weights(config, cls.name)
        data = config.data
        texts = unlabelled_texts(data.train, data.data_dir, data.text_field)
        pool = sentences(texts, model_config.min_words)
        if not pool:
            raise ValueError(f"{data.train}: no sentence of at least {model_config.min_words} words")
        train, held = split_pool(pool, model_config.heldout, data.train_subset)
        info = {"source": data.train, "texts": len(texts), "sentences": len(pool), "train": len(train),
                "heldout": len(held), "train_tokens": None}  # fmt: skip
        return train, held, info

    @property
    def validation_source(self) -> str:
        """What selection reads (recorded in the manifest's `trained_on`)."""
        return f"held-out part of {self.info.get('source', 'the training text')}"

    def _save_extra(self, directory: Path) -> None:
        export_encoder(directory)
        (directory / INFO_FILE).write_text(json.dumps(self.info, indent=2) + "\n", encoding="utf-8")

    def preprocessing(self) -> dict[str, Any]:
        return {"max_length": self.max_length}

    def length(self, item: Any) -> int:
        return len(item.input_ids)

    def examples(self, source: str, split: str, data_dir: str | None = None) -> list[Any]:
        raise ValueError("a pretraining model is scored on its held-out text during pretraining, not on a dataset")

    def encode(self, examples: Sequence[Any]) -> list[Any]:
        raise ValueError("a pretraining task encodes sentences through its masker")

    def predict(self, model: Any, inputs: Sequence[Any], batch_size: int, **options: Any) -> list[Any]:
        raise ValueError(
            "a pretraining model predicts no sentiment: start a model from its encoder with model.init_from"
        )

    @classmethod
    def from_manifest(cls, manifest: Manifest, runtime: Runtime) -> tuple[Any, nn.Module]:
        from ..models.base import load_checkpoint, load_model_tokenizer

        model, manifest = load_checkpoint(manifest, runtime)
        task = cls(PRETRAINING_LABELS, load_model_tokenizer(manifest, runtime))
        task.max_length = int(manifest.preprocessing.get("max_length", 40))
        return task, model


def constant_mae(train_labels: Sequence[float], held_labels: Sequence[float]) -> float:
    """A yardstick for the held-out MAE: that of the best constant prediction learnt from the training labels."""
    median = float(np.median(train_labels))
    return float(np.mean([abs(y - median) for y in held_labels]))


def _tokens(items: Sequence[Any]) -> int:
    return int(sum(len(x.input_ids) for x in items))


@dataclass
class SentimentWordPretraining(_Pretraining):
    """SKESL: regress the strongest lexicon word's valence from its masked context."""

    name: ClassVar[str] = SKESL_TASK
    metric: ClassVar[str] = "mae"

    @classmethod
    def for_training(cls, config: ExperimentConfig, model_config: Any) -> tuple[SentimentWordPretraining, TrainingData]:
        from ..encoders.text import load_tokenizer

        train, held, info = cls._read(config, model_config)
        task = cls(PRETRAINING_LABELS, load_tokenizer(model_config.backbone), config.data.max_length)
        masker = task.masker(config, model_config)
        train_items = masker.encode(train)
        stats = masker.stats
        masker.stats = MaskingStats()
        held_items = fix_fallbacks(
            masker.encode(held), VALIDATION_SEED, task.tokenizer.mask_token_id, config.data.max_length
        )
        info["train_tokens"] = _tokens(train_items)
        labels = [x.label for x in train_items], [x.label for x in held_items]
        info["heldout_mae_of_train_median"] = constant_mae(*labels)
        info["lexicon"] = {"entries": len(masker.lexicon), "match": model_config.match}
        info["masking"] = {"train": stats.as_dict(), "heldout": masker.stats.as_dict()}
        task.info = info
        return task, TrainingData(train_items, held_items, task._save_extra)

    def masker(self, config: ExperimentConfig, model_config: Any) -> SentimentWordMasker:
        """The masker of a config: its lexicon, window and matching rule."""
        from ..data.lexicon import read_vader

        lexicon = read_vader(vader_path(model_config.lexicon, config.data.data_dir))
        return SentimentWordMasker(
            self.tokenizer, lexicon, config.data.max_length, model_config.match, model_config.max_words
        )

    def collate(self, items: Sequence[Any]) -> MaskedBatch:
        return collate_intensity(items, self.tokenizer.mask_token_id, self.max_length, self.tokenizer.pad_token_id)

    def score(self, outputs: Outputs, items: Sequence[Any]) -> Metrics:
        predicted = np.zeros(len(items), dtype=np.float64)
        for idx, out in outputs:
            predicted[idx] = out.logits.float().numpy()[:, 0]
        gold = np.array([x.label for x in items], dtype=np.float64)
        words = np.array([x.word is not None for x in items])
        err = np.abs(predicted - gold)
        metrics: Metrics = {"mae": float(err.mean()), "n": len(items)}
        if words.any():
            metrics["mae_words"] = float(err[words].mean())
            if words.sum() > 2 and np.std(predicted[words]) > 0:
                metrics["corr_words"] = float(np.corrcoef(predicted[words], gold[words])[0, 1])
        return metrics


@dataclass
class MaskedLanguagePretraining(_Pretraining):
    """The control: BERT's masked-language modelling on the same sentences."""

    name: ClassVar[str] = MLM_TASK
    metric: ClassVar[str] = "loss"

    @classmethod
    def for_training(
        cls, config: ExperimentConfig, model_config: Any
    ) -> tuple[MaskedLanguagePretraining, TrainingData]:
        from ..data.encoding import encode_texts
        from ..encoders.text import load_tokenizer

        train, held, info = cls._read(config, model_config)
        task = cls(PRETRAINING_LABELS, load_tokenizer(model_config.backbone), config.data.max_length)
        train_items = [MlmItem(x.input_ids) for x in encode_texts(task.tokenizer, train, task.max_length)]
        held_items = fix_mlm(
            [MlmItem(x.input_ids) for x in encode_texts(task.tokenizer, held, task.max_length)],
            VALIDATION_SEED, task.vocab_size, task.tokenizer.mask_token_id, task.special,
        )  # fmt: skip
        info["train_tokens"] = _tokens(train_items)
        task.info = info
        return task, TrainingData(train_items, held_items, task._save_extra)

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def special(self) -> frozenset[int]:
        return frozenset(int(i) for i in self.tokenizer.all_special_ids)

    def collate(self, items: Sequence[Any]) -> MaskedBatch:
        return collate_mlm(
            items, self.tokenizer.mask_token_id, self.vocab_size, self.special, self.tokenizer.pad_token_id
        )

    def score(self, outputs: Outputs, items: Sequence[Any]) -> Metrics:
        total, count, correct = 0.0, 0, 0
        for idx, out in outputs:
            logits = out.logits.float()  # (B, K, V)
            logp = logits.log_softmax(-1).numpy()
            for row, i in enumerate(idx):
                x = items[i]
                for j, p in enumerate(x.positions):
                    target = x.input_ids[p]
                    total -= float(logp[row, j, target])
                    correct += int(logp[row, j].argmax() == target)
                    count += 1
        loss = total / max(count, 1)
        return {"loss": loss, "perplexity": float(np.exp(min(loss, 50.0))), "accuracy": correct / max(count, 1),
                "n": len(items), "masked": count}  # fmt: skip


TASKS.add(SentimentWordPretraining.name, SentimentWordPretraining)
TASKS.add(MaskedLanguagePretraining.name, MaskedLanguagePretraining)
