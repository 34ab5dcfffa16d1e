"""Aspect polarity (one sentence and aspect -> negative / neutral / positive) and the aspect-sentiment bundle.

Polarity models read a sentence with its aspect marked, and for graph models its dependency parse: 3-line
datasets carry tokenized sentences without trees, so they are parsed with `data.parser` (the shipped `parser-en`
by default); datasets with trees (the `*-corenlp` ones) can use theirs with `data.parser: dataset`.

On raw text, the aspects of each text are the given terms (found by character search, every occurrence) or what
an extractor finds per sentence; each occurrence is scored in its own sentence (the models were trained on
sentences), and every span is a character span into the caller's text. A bundle (`absa-en`) is a folder whose
manifest names an "extractor" and a "polarity" component. Emoji are read as words (`prepare` carries the aspect's
spans through the rewrite), and a calibrated polarity model's logits are divided by its temperature.
`data.class_weights: balanced` weighs the training loss by class (`balanced_class_weights`, passed to the model as
its `class_weights` setting).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import CLASS_WEIGHTS, ConfigError, DataConfig, ExperimentConfig
from ..data.align import find_term, sentence_spans
from ..data.collate import AspectBatch, pad_aspect_batch
from ..data.datasets import DATASETS, load_dataset
from ..data.encoding import AspectItem, Tokenizer, encode_aspect_examples
from ..data.preprocess import DEFAULT_EMOJI, Rewrite, check_emoji_mode, rewrite
from ..hub import Manifest, ManifestError, read_manifest
from ..labels import IGNORE_INDEX, LabelSet
from ..metrics import classification_metrics
from ..types import AspectExample, AspectPrediction, DepParse, Prediction, Span, TextExample
from .base import TASKS, Metrics, Outputs, TrainingData, check_labels, forward_batches, gather_logits, softmax, subset
from .document import BLANK
from .extraction import AspectExtraction

if TYPE_CHECKING:
    from torch import nn

    from ..models.base import Runtime

AspectTerms = Sequence[str] | Sequence[Sequence[str]] | None
# Loads one component of a bundle: its manifest -> (task, model). Torch checkpoints and ONNX folders each have one.
LoadPart = Callable[[Manifest], tuple[Any, Any]]


@dataclass
class AspectPolarity:
    """The aspect-polarity task of one polarity model: how it encodes (pair or sentence, graph or not)."""

    name: ClassVar[str] = "aspect-polarity.v1"
    metric: ClassVar[str] = "accuracy"

    labels: LabelSet
    tokenizer: Tokenizer
    uses_graph: bool
    pair: bool
    max_length: int = DataConfig.max_length
    parser: str = "parser-en"
    directed: bool = False
    self_loops: bool = True
    emoji: str = DEFAULT_EMOJI  # how emoji reach the tokenizer (`data/preprocess.py`)
    temperature: float = 1.0  # the softmax temperature of a calibrated model (`training/calibrate.py`)

    @classmethod
    def _settings(cls, model_type: str) -> tuple[bool, bool]:
        from ..models.base import MODELS

        config_cls = MODELS.get(model_type).config_cls
        return bool(config_cls.uses_graph), config_cls.input_format == "pair"

    @classmethod
    def for_training(cls, config: ExperimentConfig, model_config: Any) -> tuple[AspectPolarity, TrainingData]:
        from ..encoders.text import load_tokenizer

        data = config.data
        if data.class_weights not in CLASS_WEIGHTS:
            raise ConfigError(f"data.class_weights {data.class_weights!r}: expected one of {CLASS_WEIGHTS}")
        if data.class_weights != "none" and not hasattr(model_config, "class_weights"):
            raise ConfigError(f"data.class_weights: model {model_config.type!r} has no class_weights setting")
        if data.class_weights != "none" and model_config.class_weights is not None:
            raise ConfigError(
                f"data.class_weights {data.class_weights!r} computes the class weights from the training data, "
                f"and model.class_weights sets them too ({list(model_config.class_weights)}): keep one of the two"
            )
        uses_graph, pair = cls._settings(model_config.type)
        tokenizer = load_tokenizer(model_config.backbone)
        task = cls(
            DATASETS.get(data.train).labels, tokenizer, uses_graph, pair, data.max_length, data.parser,
            data.graph_directed, data.graph_self_loops, check_emoji_mode(data.emoji),
        )  # fmt: skip
        train = task.examples(data.train, "train", data.data_dir)
        validation = task.examples(data.validation or data.train, "validation", data.data_dir)
        train = subset(train, data.train_subset, config.train.seed)
        items = task.encode(train)
        overrides = {}
        if data.class_weights == "balanced":
            overrides["class_weights"] = balanced_class_weights([x.label for x in items], task.labels, data.train)
        return task, TrainingData(items, task.encode(validation), model_overrides=overrides)

    @classmethod
    def from_manifest(cls, manifest: Manifest, runtime: Runtime) -> tuple[AspectPolarity, nn.Module]:
        from ..models.base import load_checkpoint, load_model_tokenizer

        model, manifest = load_checkpoint(manifest, runtime)
        return cls.for_inference(manifest, load_model_tokenizer(manifest, runtime)), model

    @classmethod
    def for_inference(cls, manifest: Manifest, tokenizer: Tokenizer) -> AspectPolarity:
        """The task of a model folder, with its tokenizer already loaded (no model; torch only for a folder whose
        preprocessing does not say how it encodes, which the model registry then tells)."""
        pre = manifest.preprocessing
        if "uses_graph" in pre and "input_format" in pre:
            uses_graph, pair = bool(pre["uses_graph"]), pre["input_format"] == "pair"
        else:
            uses_graph, pair = cls._settings(manifest.model_type)
        return cls(
            manifest.labels,
            tokenizer,
            uses_graph,
            pair,
            int(pre.get("max_length", DataConfig.max_length)),
            str(pre.get("parser", DataConfig.parser)),
            bool(pre.get("graph_directed", DataConfig.graph_directed)),
            bool(pre.get("graph_self_loops", DataConfig.graph_self_loops)),
            check_emoji_mode(str(pre.get("emoji", DEFAULT_EMOJI))),
            manifest.temperature,
        )

    def preprocessing(self) -> dict[str, Any]:
        return {
            "max_length": self.max_length,
            "parser": self.parser,
            "graph_directed": self.directed,
            "graph_self_loops": self.self_loops,
            "emoji": self.emoji,
        }

    def encoding(self) -> dict[str, Any]:
        """How this task encodes, which the model's registry entry otherwise tells: written into exported folders,
        which load without the model registry (and torch)."""
        return {"uses_graph": self.uses_graph, "input_format": "pair" if self.pair else "sentence"}

    # --- data ---------------------------------------------------------------------------------------------
    def examples(self, source: str, split: str, data_dir: str | None = None) -> list[AspectExample]:
        spec = DATASETS.get(source)
        if spec.task != self.name:
            raise ValueError(f"dataset {source!r} ({spec.scheme}) is not an aspect-polarity dataset")
        return load_dataset(source, split, data_dir)

    def own_parses(self, raw_text: bool = False) -> bool:
        """Whether encoding reads the examples' own parses (`parser: dataset` on dataset examples)."""
        return self.uses_graph and self.parser == "dataset" and not raw_text

    def prepare(self, example: AspectExample, raw_text: bool = False) -> tuple[AspectExample, Rewrite]:
        """The example as the model reads it: emoji as words (`data/preprocess.py`), its spans and aspect moved
        into the rewritten text, and the rewrite (to map offsets back). An example whose own parse is read
        (`own_parses`) stays as it is: the parse's words fix the text. Preparing twice changes nothing."""
        if self.own_parses(raw_text):
            return example, Rewrite(example.text, example.text)
        rw = rewrite(example.text, self.emoji)
        if not rw.edits:
            return example, rw
        spans = tuple(rw.new_span(span) for span in example.spans)
        return replace(example, text=rw.text, spans=spans, aspect=rewrite(example.aspect, self.emoji).text), rw

    def parses(self, examples: Sequence[AspectExample], raw_text: bool = False) -> list[DepParse | None] | None:
        """One parse per example for graph models (None: use each example's own, for `parser: dataset`).

        Dataset examples are parsed over their tokens (whitespace words); raw text (`raw_text`) is tokenized by
        the parser. A model trained on a dataset's own trees reads raw text through the shipped parser.
        """
        if not self.uses_graph:
            return [None] * len(examples)
        from ..data.syntax import DEFAULT_PARSER, shared_parser

        if self.parser == "dataset" and not raw_text:
            missing = next((x for x in examples if x.parse is None), None)
            if missing is not None:
                raise ValueError(f"data.parser is 'dataset' but {missing.source or missing.id} has no parse")
            return None
        parser = shared_parser(DEFAULT_PARSER if self.parser == "dataset" else self.parser)
        return parser.parse_many([x.text if raw_text else x.text.split() for x in examples])

    def encode(
        self,
        examples: Sequence[AspectExample],
        raw_text: bool = False,
        parses: Sequence[DepParse | None] | None = None,
    ) -> list[AspectItem]:
        """Examples -> items; polarities -> target ids (here and nowhere else for this task). The examples are
        prepared first (`prepare`: emoji as words). `parses`: the parses of the prepared examples when the caller
        has them already (default: `self.parses`)."""
        label_ids = []
        for k, x in enumerate(examples):
            if x.polarity is None:
                label_ids.append(IGNORE_INDEX)
                continue
            try:
                label_ids.append(self.labels.id(x.polarity))
            except KeyError as err:
                raise KeyError(f"{x.source or x.id or f'example {k}'}: {err.args[0]}") from None
        examples = [self.prepare(x, raw_text)[0] for x in examples]
        if parses is None:
            parses = self.parses(examples, raw_text)
        return encode_aspect_examples(
            self.tokenizer, examples, parses, label_ids, self.max_length,
            pair=self.pair, directed=self.directed, self_loops=self.self_loops,
        )  # fmt: skip

    def length(self, item: AspectItem) -> int:
        return len(item.input_ids)

    def collate(self, items: Sequence[AspectItem]) -> AspectBatch:
        return pad_aspect_batch(items)

    def score(self, outputs: Outputs, items: Sequence[AspectItem]) -> Metrics:
        predicted = gather_logits(outputs, len(items)).argmax(-1).tolist()
        return classification_metrics([x.label for x in items], predicted, self.labels)

    def evaluate(self, model: nn.Module, examples: Sequence[AspectExample], batch_size: int) -> Metrics:
        check_labels(examples, self.labels, "polarity", "the data")
        items = self.encode(examples)
        return self.score(list(forward_batches(model, self, items, batch_size)), items)

    # --- inference ----------------------------------------------------------------------------------------
    def score_spans(
        self,
        model: nn.Module,
        texts: Sequence[str],
        located: Sequence[Sequence[Span]],
        batch_size: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[list[AspectPrediction]]:
        """The polarity of every located span, each in its own sentence; one list per text, sorted by position."""
        examples, owners = [], []  # owners: (text index, span in the text)
        for i, (text, spans) in enumerate(zip(texts, located, strict=True)):
            sentences = sentence_spans(text)
            for a, b in spans:
                s0, s1 = next(((x, y) for x, y in sentences if x <= a and b <= y), (0, len(text)))
                examples.append(AspectExample(text=text[s0:s1], aspect=text[a:b], spans=((a - s0, b - s0),)))
                owners.append((i, Span(a, b)))
        results: list[list[AspectPrediction]] = [[] for _ in texts]
        if not examples:
            return results
        items = self.encode(examples, raw_text=True)
        outputs = list(forward_batches(model, self, items, batch_size, on_batch))
        names = self.labels.names
        probabilities = softmax(gather_logits(outputs, len(items)) / self.temperature)
        for (i, (a, b)), p in zip(owners, probabilities, strict=True):
            k = int(p.argmax())
            results[i].append(
                AspectPrediction(
                    aspect=texts[i][a:b],
                    start=a,
                    end=b,
                    polarity=names[k],
                    confidence=float(p[k]),
                    probabilities={n: float(v) for n, v in zip(names, p, strict=True)},
                )
            )
        return [sorted(r, key=lambda x: (x.start, x.end)) for r in results]

    def predict(
        self,
        model: nn.Module,
        inputs: Sequence[TextExample],
        batch_size: int,
        aspects: AspectTerms = None,
        on_batch: Callable[[int], None] | None = None,
        **options: Any,
    ) -> list[Prediction]:
        """A polarity model alone scores the terms you give (`aspects`) wherever they occur."""
        if options:
            raise TypeError(f"unknown option(s) for aspect polarity: {', '.join(sorted(options))}")
        if aspects is None:
            raise ValueError("this aspect model has no extractor: pass the aspects to score (aspects=[...])")
        return _aspect_predictions(
            self, model, inputs, per_text_terms(len(inputs), aspects), None, batch_size, on_batch
        )


def balanced_class_weights(label_ids: Sequence[int], labels: LabelSet, source: str) -> tuple[float, ...]:
    """scikit-learn's "balanced" class weights over training targets: N / (C * n_c) for each class c of `labels`
    (targets at IGNORE_INDEX left out), so each class weighs N / C in the loss however rare it is.

    A class without a training example is an error, not a weight: N / (C * 0) has no value, and a weight of 0 would
    train, without a word, a model that never predicts that class, which is not what "balanced" asks for.
    """
    counts = Counter(i for i in label_ids if i != IGNORE_INDEX)
    n = sum(counts.values())
    missing = [name for c, name in enumerate(labels.names) if counts[c] == 0]
    if missing:
        raise ConfigError(
            f"data.class_weights 'balanced': the training data of {source!r} has no {', '.join(missing)} example "
            f"(of {n}), so its weight N / (C * 0) has no value; train on data holding every label "
            f"{list(labels.names)} (a larger data.train_subset?) or set data.class_weights: none"
        )
    return tuple(n / (len(labels) * counts[c]) for c in range(len(labels)))


@dataclass
class AspectModels:
    """The loaded parts of an aspect-sentiment bundle (polarity model, and extractor when the bundle has one)."""

    polarity: nn.Module
    extractor: nn.Module | None = None


@dataclass
class AspectSentiment:
    """Aspects and their polarity for raw texts: an extractor (optional) and a polarity model."""

    name: ClassVar[str] = "aspect-sentiment.v1"
    metric: ClassVar[str] = "accuracy"

    polarity: AspectPolarity
    extractor: AspectExtraction | None = None

    @property
    def labels(self) -> LabelSet:
        return self.polarity.labels

    @classmethod
    def from_manifest(cls, manifest: Manifest, runtime: Runtime) -> tuple[AspectSentiment, AspectModels]:
        return cls.assemble(manifest, lambda part: TASKS.get(part.task).from_manifest(part, runtime))

    @classmethod
    def assemble(cls, manifest: Manifest, load_part: LoadPart) -> tuple[AspectSentiment, AspectModels]:
        """The bundle's task and models, each component loaded by `load_part` (from its manifest)."""
        folder = manifest.component("polarity")
        if folder is None:
            raise ManifestError(f"{manifest.path}/config.json: 'components' must name a 'polarity' folder")
        polarity_task, polarity_model = load_part(_component(folder, AspectPolarity.name))
        extractor_task, extractor_model = None, None
        folder = manifest.component("extractor")
        if folder is not None:
            extractor_task, extractor_model = load_part(_component(folder, AspectExtraction.name))
        return cls(polarity_task, extractor_task), AspectModels(polarity_model, extractor_model)

    @classmethod
    def component_for(cls, task: str | None) -> str | None:
        """The bundle role ("polarity", "extractor") that scores a dataset of `task`."""
        return {AspectPolarity.name: "polarity", AspectExtraction.name: "extractor"}.get(task or "")

    def predict(
        self,
        models: AspectModels,
        inputs: Sequence[TextExample],
        batch_size: int,
        aspects: AspectTerms = None,
        on_batch: Callable[[int], None] | None = None,
        **options: Any,
    ) -> list[Prediction]:
        """Each text's aspects (the given terms, else the extracted ones) with their polarity."""
        if options:
            raise TypeError(f"unknown option(s) for aspect sentiment: {', '.join(sorted(options))}")
        per_text = None if aspects is None else per_text_terms(len(inputs), aspects)
        if per_text is None and (self.extractor is None or models.extractor is None):
            raise ValueError("this aspect model has no extractor: pass the aspects to score (aspects=[...])")
        extract = None
        if per_text is None:

            def extract(texts: Sequence[str]) -> list[list[Span]]:
                return _extract(self.extractor, models.extractor, texts, batch_size)

        return _aspect_predictions(self.polarity, models.polarity, inputs, per_text, extract, batch_size, on_batch)


def _component(folder: Any, task: str) -> Manifest:
    manifest = read_manifest(folder)
    if manifest.task != task:
        raise ManifestError(f"{folder} holds a {manifest.task} model; expected a {task} model")
    return manifest


def _extract(task: AspectExtraction, model: nn.Module, texts: Sequence[str], batch_size: int) -> list[list[Span]]:
    """What the extractor finds in each sentence of each text, as spans into the text."""
    sentences = [(i, s) for i, text in enumerate(texts) for s in sentence_spans(text)]
    found = task.extract(model, [texts[i][a:b] for i, (a, b) in sentences], batch_size)
    out: list[list[Span]] = [[] for _ in texts]
    for (i, (a, _)), spans in zip(sentences, found, strict=True):
        out[i].extend(Span(a + x, a + y) for x, y in spans)
    return out


def _aspect_predictions(
    polarity: AspectPolarity,
    model: nn.Module,
    inputs: Sequence[TextExample],
    per_text: list[list[str]] | None,
    extract: Callable[[Sequence[str]], list[list[Span]]] | None,
    batch_size: int,
    on_batch: Callable[[int], None] | None,
) -> list[Prediction]:
    """Locate each text's aspects (given terms or `extract`), score them, and say which given terms are absent."""
    scored = [i for i, x in enumerate(inputs) if x.text.strip()]
    texts = [inputs[i].text for i in scored]
    warnings: list[tuple[str, ...]] = [()] * len(texts)
    if per_text is not None:
        terms = [per_text[i] for i in scored]
        located = []
        for k, (text, wanted) in enumerate(zip(texts, terms, strict=True)):
            spans, absent = set(), []
            for term in wanted:
                found = find_term(text, term)
                spans.update(found)
                if not found:
                    absent.append(f"aspect {term!r} does not occur in the text")
            located.append(sorted(spans))
            warnings[k] = tuple(absent)
    else:
        located = extract(texts) if texts else []
    aspects = polarity.score_spans(model, texts, located, batch_size, on_batch)
    results: list[Prediction | None] = [None] * len(inputs)
    for k, i in enumerate(scored):
        x = inputs[i]
        results[i] = Prediction(text=x.text, id=x.id, aspects=tuple(aspects[k]), warnings=warnings[k], fields=x.fields)
    for i, x in enumerate(inputs):
        if results[i] is None:
            results[i] = Prediction(text=x.text, id=x.id, error=BLANK, fields=x.fields)
    return results  # type: ignore[return-value]


def per_text_terms(n_texts: int, aspects: str | Sequence[str] | Sequence[Sequence[str]]) -> list[list[str]]:
    """One term list per text, from one list for every text or one list per text."""
    if isinstance(aspects, str):
        aspects = [aspects]
    aspects = list(aspects)
    if all(isinstance(a, str) for a in aspects):
        return [list(aspects)] * n_texts
    if len(aspects) != n_texts or not all(isinstance(a, list | tuple) for a in aspects):
        raise ValueError(f"aspects: expected a list of terms for all texts, or one list per text ({n_texts} lists)")
    for k, terms in enumerate(aspects):
        bad = next((t for t in terms if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(f"aspects[{k}] holds a {type(bad).__name__}; expected strings")
    return [list(a) for a in aspects]


TASKS.add(AspectPolarity.name, AspectPolarity)
TASKS.add(AspectSentiment.name, AspectSentiment)
