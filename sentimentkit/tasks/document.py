"""Text classification: a document or sentence -> one label (5-point sentiment, polarity, emotion, your labels).

Data: a named dataset (`data/datasets.py`) or the user's labelled .csv/.jsonl file (10 % carved off for
validation when no validation file is given). Predictions carry the label and its probabilities; polarity and a
score in [-1, 1] come from the label set where it has them (`LabelSet.polarity_map`, `LabelSet.scale`). Texts
longer than the model's window are cut (and say so), or scored in sentence chunks whose probabilities are
averaged, weighted by length (`long_texts="chunks"`). Emoji reach the tokenizer as words (`emoji`, recorded in
the manifest's preprocessing), and a calibrated model's logits are divided by its temperature before the softmax.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..config import ConfigError, DataConfig, ExperimentConfig
from ..data.align import sentence_spans
from ..data.collate import TextBatch, pad_batch
from ..data.datasets import DATASETS, carve_validation, load_dataset
from ..data.encoding import TextItem, Tokenizer, encode_texts
from ..data.preprocess import DEFAULT_EMOJI, check_emoji_mode, rewrite
from ..hub import Manifest
from ..labels import IGNORE_INDEX, POLARITIES, LabelSet
from ..metrics import classification_metrics
from ..types import Prediction, TextExample
from .base import (
    TASKS,
    Metrics,
    Outputs,
    TrainingData,
    check_labels,
    forward_batches,
    gather_logits,
    refuse_class_weights,
    softmax,
    subset,
)

if TYPE_CHECKING:
    from torch import nn

    from ..models.base import Runtime

LONG_TEXTS = ("truncate", "chunks")
BLANK = "blank input: there is no text to score"
MIX = "+"  # data.train "sst5-phrases + imdb + ...": a training mixture of named datasets
MIX_VALIDATION = 1000  # validation texts per source of a mixture (a fixed sample, the same for every run)
MIX_VALIDATION_SEED = 0


@dataclass(frozen=True)
class Source:
    """One source of a training mixture and how its labels reach the model's: each of its labels -> the model
    classes it allows (one class where the source's labels are the model's; the classes of that polarity where the
    source is coarser, e.g. IMDb's "positive" -> 5-point "positive" and "very positive")."""

    name: str
    groups: dict[str, tuple[int, ...]]

    @property
    def exact(self) -> bool:
        return all(len(g) == 1 for g in self.groups.values())


def source_labels(name: str, labels: LabelSet, model: LabelSet) -> Source:
    """How source `name`, labelled with `labels`, trains the model's `model` labels (ValueError where it cannot)."""
    if labels.names == model.names:
        return Source(name, {n: (model.id(n),) for n in labels.names})
    if model.polarity_map is None or not set(labels.names) <= set(POLARITIES):
        raise ValueError(
            f"mixture source {name!r} has labels {list(labels.names)}, neither the model's {list(model.names)} "
            f"nor polarities {list(POLARITIES)} that the model's labels map to"
        )
    groups = {n: tuple(model.id(m) for m in model.names if model.polarity_map[m] == n) for n in labels.names}
    empty = [n for n, g in groups.items() if not g]
    if empty:
        raise ValueError(f"mixture source {name!r}: no model label has polarity {empty} ({list(model.names)})")
    return Source(name, groups)


def _plain(text: str) -> str:
    """A text compared for overlap: lower-cased, runs of whitespace as one space."""
    return " ".join(text.lower().split())


def _per_source(value: int | dict[str, int] | None, names: Sequence[str]) -> dict[str, int | None]:
    """data.per_source -> each source's cap (None: all of it); names a key that is not a source -> ConfigError."""
    if not isinstance(value, dict):
        return dict.fromkeys(names, value)
    unknown = sorted(set(value) - {*names, "*"})
    if unknown:
        raise ConfigError(f"data.per_source names {unknown}, which are not sources of the mixture ({list(names)})")
    bad = {k: v for k, v in value.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1}
    if bad:
        raise ConfigError(f"data.per_source: expected a positive whole number per source, got {bad}")
    return {name: value.get(name, value.get("*")) for name in names}


@dataclass
class TextClassification:
    """The text-classification task for one label set, tokenizer and window."""

    name: ClassVar[str] = "text-classification.v1"
    metric: ClassVar[str] = "accuracy"

    labels: LabelSet
    tokenizer: Tokenizer | None = None
    max_length: int = DataConfig.max_length
    truncation: str = "head"
    data: DataConfig = field(default_factory=DataConfig)
    emoji: str = DEFAULT_EMOJI  # how emoji reach the tokenizer (`data/preprocess.py`)
    temperature: float = 1.0  # the softmax temperature of a calibrated model (`training/calibrate.py`)
    sources: tuple[Source, ...] = ()  # a training mixture's sources (validation is scored per source)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)  # a mixture's texts dropped as test texts

    # --- construction -------------------------------------------------------------------------------------
    @classmethod
    def for_training(cls, config: ExperimentConfig, model_config: Any) -> tuple[TextClassification, TrainingData]:
        """Read the config's data, fix the label set and tokenizer, and encode train and validation."""
        refuse_class_weights(config, cls.name)  # mixtures train label groups: no class weighting (yet)
        data = config.data
        task = cls(LabelSet(("_",)), None, data.max_length, data.truncation, data, check_emoji_mode(data.emoji))
        if MIX in data.train and not Path(data.train).exists():
            train, validation = task._mixture(data, config.train.seed)
        else:
            train, validation = task._single(data)
        train = subset(train, data.train_subset, config.train.seed)
        from ..models.base import MODELS

        save_extra, overrides = None, {}
        if MODELS.get(model_config.type).tokenizer == "vocab":
            from ..data.vocab import WordVocab

            vocab = WordVocab.build([x.text for x in train], model_config.min_freq, model_config.max_vocab)
            task.tokenizer, save_extra, overrides = vocab, vocab.save, {"vocab_size": len(vocab)}
        else:
            from ..encoders.text import load_tokenizer

            task.tokenizer = load_tokenizer(model_config.backbone)
        return task, TrainingData(task.encode(train), task.encode(validation), save_extra, overrides, train)

    @property
    def validation_source(self) -> str | None:
        """What a mixture selects on (recorded in the model folder); None: data.validation, as configured."""
        if not self.sources:
            return None
        held = dict(self.data.validation or {})
        parts = [f"{s.name}: {held[s.name]}" for s in self.sources if s.name in held]
        other = f" ({', '.join(parts)})" if parts else ""
        dropped = {k: v for k, v in self.dropped.items() if v["train"] or v["validation"]}
        leaks = f"; texts of a test split dropped: {dropped}" if dropped else ""
        return f"the validation split of each source{other}, at most {MIX_VALIDATION} texts each, mean accuracy{leaks}"

    def _single(self, data: DataConfig) -> tuple[list[TextExample], list[TextExample]]:
        """One source: a named dataset (its validation split) or a file (validation carved, or data.validation)."""
        if data.per_source is not None:
            raise ConfigError(f"data.per_source goes with a mixture (data.train 'a {MIX} b'), not {data.train!r}")
        train = self.examples(data.train, "train", data.data_dir)
        if data.train in DATASETS:
            self.labels = DATASETS.get(data.train).labels
        else:
            self.labels = LabelSet.of(data.labels or tuple(sorted({x.label for x in train})))
        if data.validation is None and data.train not in DATASETS:
            train, validation = carve_validation(train, lambda x: x.label)
        else:
            validation = self.examples(data.validation or data.train, "validation", data.data_dir)
        check_labels(train, self.labels, "label", "train data")
        check_labels(validation, self.labels, "label", "validation data")
        return train, validation

    def _mixture(self, data: DataConfig, seed: int) -> tuple[list[TextExample], list[TextExample]]:
        """Several named datasets at once. data.labels, or else the first source, sets the model's labels; a coarser
        source (polarities) trains the classes of each polarity together (`Source`). Each source keeps its own
        validation split (at most MIX_VALIDATION texts of it), and selection reads the mean of the per-source
        accuracies."""
        names = [n.strip() for n in data.train.split(MIX)]
        for name in names:
            if name not in DATASETS or DATASETS.get(name).task != self.name:
                known = ", ".join(n for n in DATASETS.names() if DATASETS.get(n).task == self.name)
                raise ConfigError(f"data.train {data.train!r}: {name!r} is not a named text dataset ({known})")
        if len(set(names)) != len(names):
            raise ConfigError(f"data.train {data.train!r} names a source twice")
        if data.validation is not None and not isinstance(data.validation, dict):
            raise ConfigError(
                f"data.validation {data.validation!r}: a mixture selects on each source's own validation split; "
                "leave data.validation unset, or map a source to another dataset's ({{sst5-phrases: sst5}})"
            )
        held_from = dict(data.validation or {})
        unknown = sorted(set(held_from) - set(names))
        if unknown:
            raise ConfigError(f"data.validation names {unknown}, which are not sources of the mixture ({names})")
        # the model's labels: data.labels when given (a known scheme keeps its polarity map), else the first source's
        self.labels = LabelSet.of(data.labels) if data.labels else DATASETS.get(names[0]).labels
        caps = _per_source(data.per_source, names)
        # No test text may train or select: the sources overlap (restaurant16's train file holds restaurant15's test
        # sentences), so every text of any source's test split is dropped from every source's train and validation.
        # A source selected on another dataset is tested on that one's split (SST-5 phrases: the test sentences, not
        # every phrase of the test trees, which would drop "good" and "the film" from training).
        scored = {held_from.get(n, n) for n in names}
        tests = {_plain(x.text) for n in scored for x in load_dataset(n, "test", data.data_dir)}
        self.dropped = {}
        sources, train, validation = [], [], []
        for index, name in enumerate(names):
            spec = DATASETS.get(name)
            source = source_labels(name, spec.labels, self.labels)
            sources.append(source)
            part = load_dataset(name, "train", data.data_dir)
            other = held_from.get(name, name)
            if other not in DATASETS or DATASETS.get(other).labels != spec.labels:
                raise ConfigError(f"data.validation {{{name}: {other}}}: not a named dataset with the labels of {name}")
            held = load_dataset(other, "validation", data.data_dir)
            check_labels(part, spec.labels, "label", f"train data of {name}")
            check_labels(held, spec.labels, "label", f"validation data of {name} ({other})")
            clean = [x for x in part if _plain(x.text) not in tests]
            clean_held = [x for x in held if _plain(x.text) not in tests]
            self.dropped[name] = {"train": len(part) - len(clean), "validation": len(held) - len(clean_held)}
            part, held = clean, clean_held
            part = subset(part, caps[name], seed)
            held = subset(held, MIX_VALIDATION, MIX_VALIDATION_SEED) if len(held) > MIX_VALIDATION else held
            # the source's index travels in `fields` to `encode`, which turns its label into the allowed classes
            tag = (("_mixture_source", index),)
            train += [replace(x, fields=x.fields + tag) for x in part if x.label is not None]
            validation += [replace(x, fields=x.fields + tag) for x in held if x.label is not None]
        self.sources = tuple(sources)
        return train, validation

    @classmethod
    def from_manifest(cls, manifest: Manifest, runtime: Runtime) -> tuple[TextClassification, nn.Module]:
        from ..models.base import load_checkpoint, load_model_tokenizer

        model, manifest = load_checkpoint(manifest, runtime)
        return cls.for_inference(manifest, load_model_tokenizer(manifest, runtime)), model

    @classmethod
    def for_inference(cls, manifest: Manifest, tokenizer: Tokenizer) -> TextClassification:
        """The task of a model folder, with its tokenizer already loaded (no model, no torch: ONNX folders too)."""
        pre = manifest.preprocessing
        return cls(
            manifest.labels,
            tokenizer,
            int(pre.get("max_length", DataConfig.max_length)),
            str(pre.get("truncation", DataConfig.truncation)),
            emoji=check_emoji_mode(str(pre.get("emoji", DEFAULT_EMOJI))),
            temperature=manifest.temperature,
        )

    def preprocessing(self) -> dict[str, Any]:
        return {"max_length": self.max_length, "truncation": self.truncation, "emoji": self.emoji}

    # --- data ---------------------------------------------------------------------------------------------
    def examples(self, source: str, split: str, data_dir: str | None = None) -> list[TextExample]:
        if source in DATASETS:
            spec = DATASETS.get(source)
            if spec.task != self.name:
                raise ValueError(f"dataset {source!r} ({spec.scheme}) is not a text classification dataset")
            return load_dataset(source, split, data_dir)
        from ..data.readers import read_labelled_file

        if not Path(source).exists():
            known = ", ".join(n for n in DATASETS.names() if DATASETS.get(n).task == self.name)
            raise FileNotFoundError(f"{source!r} is neither a named text dataset ({known}) nor an existing file")
        return list(read_labelled_file(source, self.data.text_field, self.data.label_field))

    def encode(self, examples: Sequence[TextExample]) -> list[TextItem]:
        """Texts -> token ids; labels -> target ids (here and nowhere else for this task)."""
        if self.tokenizer is None:
            raise RuntimeError("the task has no tokenizer yet")
        items = encode_texts(self.tokenizer, [x.text for x in examples], self.max_length, self.truncation, self.emoji)
        out = []
        for item, example in zip(items, examples, strict=True):
            label, index, allowed = IGNORE_INDEX, 0, ()
            mixture = dict(example.fields).get("_mixture_source") if self.sources else None
            if mixture is not None and example.label is not None:
                index = int(mixture)
                allowed = self.sources[index].groups[example.label]
                label = allowed[0]
            elif example.label is not None:
                try:
                    label = self.labels.id(example.label)
                except KeyError as err:
                    raise KeyError(f"{example.source or example.id}: {err.args[0]}") from None
            out.append(replace(item, label=label, source=index, allowed=allowed))
        return out

    def length(self, item: TextItem) -> int:
        return len(item.input_ids)

    def collate(self, items: Sequence[TextItem]) -> TextBatch:
        return pad_batch(items)

    # --- scoring ------------------------------------------------------------------------------------------
    def score(self, outputs: Outputs, items: Sequence[TextItem]) -> Metrics:
        logits = gather_logits(outputs, len(items))
        if self.sources:
            return self._mixture_metrics(logits, items)
        return classification_metrics([x.label for x in items], logits.argmax(-1).tolist(), self.labels)

    def _mixture_metrics(self, logits: np.ndarray, items: Sequence[TextItem]) -> Metrics:
        """Accuracy per source, each at its own granularity (a coarse source: the label group with the largest
        summed probability), and their unweighted mean as "accuracy" (what selection reads)."""
        probabilities = softmax(logits)
        metrics: Metrics = {}
        for index, source in enumerate(self.sources):
            rows = [i for i, x in enumerate(items) if x.source == index]
            if not rows:
                continue
            groups = list(dict.fromkeys(source.groups.values()))
            right = 0
            for i in rows:
                sums = [float(probabilities[i, list(g)].sum()) for g in groups]
                right += groups[int(np.argmax(sums))] == (items[i].allowed or (items[i].label,))
            metrics[f"accuracy_{source.name}"] = right / len(rows)
        metrics["accuracy"] = float(np.mean(list(metrics.values())))
        return metrics

    def evaluate(self, model: nn.Module, examples: Sequence[TextExample], batch_size: int) -> Metrics:
        """Metrics on labelled examples. Polarity labels (negative / neutral / positive) on a model with a finer scale
        (5-point) are compared by polarity: "positive" data is right when the positive classes together are the
        most probable, not only when the class named "positive" wins. Labels the model cannot map are refused."""
        data_labels = sorted({x.label for x in examples if x.label is not None})
        if not data_labels:
            raise ValueError("the examples have no labels to score against")
        polarities = self.labels.polarities
        finer = self.labels.polarity_map is not None and any(k != v for k, v in self.labels.polarity_map.items())
        by_polarity = bool(polarities) and set(data_labels) <= set(polarities)
        if not (finer and by_polarity) and set(data_labels) <= set(self.labels.names):
            items = self.encode(examples)
            outputs = list(forward_batches(model, self, items, batch_size))
            return self.score(outputs, items)
        if not by_polarity:
            raise ValueError(
                f"the data's labels {data_labels} are not the model's {list(self.labels.names)}"
                + (f" nor its polarities {list(polarities)}" if polarities else "")
                + "; relabel the data or score it with a model trained on these labels"
            )
        # compare as polarities: the argmax over the data's polarities of each polarity's summed probability
        wanted = LabelSet.of(tuple(p for p in POLARITIES if p in data_labels))
        unlabelled = [replace(x, label=None) for x in examples]
        probs = self._probabilities(model, self.encode(unlabelled), batch_size)
        predicted = []
        for p in probs:
            grouped = self.labels.polarity_probabilities(p) or {}
            predicted.append(wanted.id(max(wanted.names, key=lambda name: grouped.get(name, 0.0))))
        metrics = classification_metrics([wanted.id(x.label) for x in examples], predicted, wanted)
        metrics["compared_as"] = "polarity"
        return metrics

    # --- inference ----------------------------------------------------------------------------------------
    def predict(
        self,
        model: nn.Module,
        inputs: Sequence[TextExample],
        batch_size: int,
        on_batch: Callable[[int], None] | None = None,
        long_texts: str = "truncate",
        **options: Any,
    ) -> list[Prediction]:
        """One Prediction per input: blank inputs get one with `error`, long ones say `truncated` (or `chunks`)."""
        if long_texts not in LONG_TEXTS:
            raise ValueError(f"long_texts {long_texts!r}: expected one of {LONG_TEXTS}")
        if options:
            raise TypeError(f"unknown option(s) for text classification: {', '.join(sorted(options))}")
        scored = [i for i, x in enumerate(inputs) if x.text.strip()]
        items = self.encode([replace(inputs[i], label=None) for i in scored])
        probs = self._probabilities(model, items, batch_size, on_batch)
        results: list[Prediction | None] = [None] * len(inputs)
        long = []
        for k, i in enumerate(scored):
            if items[k].truncated and long_texts == "chunks":
                long.append(i)
            else:
                results[i] = self._prediction(inputs[i], probs[k], truncated=items[k].truncated)
        if long:
            for i, prediction in zip(long, self._chunked(model, [inputs[i] for i in long], batch_size), strict=True):
                results[i] = prediction
        for i, x in enumerate(inputs):
            if results[i] is None:
                results[i] = Prediction(text=x.text, id=x.id, error=BLANK, fields=x.fields)
        return results  # type: ignore[return-value]

    def _probabilities(
        self,
        model: nn.Module,
        items: Sequence[TextItem],
        batch_size: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        outputs = list(forward_batches(model, self, items, batch_size, on_batch))
        return softmax(gather_logits(outputs, len(items)) / self.temperature)

    def _chunked(self, model: nn.Module, inputs: Sequence[TextExample], batch_size: int) -> list[Prediction]:
        """Score each long text as chunks that fit the window; average their probabilities, weighted by length."""
        budget = self.max_length - 2
        owners: list[int] = []  # the input of each chunk
        texts: list[str] = []
        sizes: list[int] = []
        for k, example in enumerate(inputs):
            for text, tokens in self._chunks(
                rewrite(example.text, self.emoji).text, budget
            ):  # count as the model reads
                owners.append(k)
                texts.append(text)
                sizes.append(min(tokens, budget))
        items = encode_texts(self.tokenizer, texts, self.max_length, self.truncation, self.emoji)
        probs = self._probabilities(model, items, batch_size)
        rows: list[list[int]] = [[] for _ in inputs]
        for j, k in enumerate(owners):
            rows[k].append(j)
        out = []
        for k, example in enumerate(inputs):
            weights = np.array([sizes[j] for j in rows[k]], dtype=np.float64)
            p = (probs[rows[k]] * weights[:, None]).sum(0) / max(weights.sum(), 1.0)
            truncated = any(items[j].truncated for j in rows[k])
            out.append(replace(self._prediction(example, p, truncated), chunks=len(rows[k])))
        return out

    def _chunks(self, text: str, budget: int) -> list[tuple[str, int]]:
        """Consecutive sentences packed into chunks of at most `budget` tokens; a sentence longer than that is cut
        into windows of `budget` tokens (where the tokenizer gives offsets), so no part of the text is left out."""
        pieces: list[tuple[int, int, int]] = []  # (start, end, tokens) in text
        spans = sentence_spans(text)
        encoded = self.tokenizer([text[a:b] for a, b in spans], add_special_tokens=False, **self._offsets())
        for i, (a, b) in enumerate(spans):
            count = len(encoded["input_ids"][i])
            offsets = encoded.get("offset_mapping")
            if count <= budget or offsets is None:
                pieces.append((a, b, count))
                continue
            marks = offsets[i]
            for w in range(0, count, budget):
                last = min(w + budget, count) - 1
                pieces.append((a + marks[w][0], a + marks[last][1], last - w + 1))
        out: list[tuple[str, int]] = []
        start: int | None = None
        end, used = 0, 0
        for a, b, count in pieces:
            if start is not None and used + count > budget:
                out.append((text[start:end], used))
                start, used = None, 0
            if start is None:
                start = a
            end, used = b, used + count
        if start is not None:
            out.append((text[start:end], used))
        return out

    def _offsets(self) -> dict[str, bool]:
        """Ask for character offsets where the tokenizer gives them (a word vocabulary does not)."""
        return {"return_offsets_mapping": True} if getattr(self.tokenizer, "is_fast", False) else {}

    def _prediction(self, example: TextExample, p: np.ndarray, truncated: bool) -> Prediction:
        names = self.labels.names
        grouped = self.labels.polarity_probabilities(p)
        return Prediction(
            text=example.text,
            id=example.id,
            label=names[int(p.argmax())],
            polarity=max(grouped, key=grouped.get) if grouped else None,
            score=self.labels.expected_score(p),
            probabilities={n: float(v) for n, v in zip(names, p, strict=True)},
            truncated=truncated,
            fields=example.fields,
        )


TASKS.add(TextClassification.name, TextClassification)
