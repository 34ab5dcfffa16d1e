"""The aspect-polarity task for the one training recipe: aspect examples, dependency graphs, aspect batches.

3-line datasets carry tokenized sentences without trees: models that use a graph get them from a parser
(`data.parser`, the shipped `parser-en` by default), parsing the dataset's own tokens. Datasets with trees
(the `*-corenlp` ones) can use them as they are with `data.parser: dataset`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import ExperimentConfig
from ..data.absa_collate import encode_aspect_examples, pad_aspect_batch
from ..data.datasets import DATASETS, load_dataset
from ..encoders.text import load_tokenizer
from ..labels import LabelSet
from ..models import MODELS
from ..models.base import model_config
from .metrics import classification_metrics


def _examples(name: str, split: str, data_dir: str | None) -> list[Any]:
    spec = DATASETS.get(name)
    if spec.task != "aspect-polarity":
        raise ValueError(f"dataset {name!r} ({spec.task}) is not an aspect-polarity dataset")
    return load_dataset(name, split, data_dir)


def parses_for(examples: list[Any], parser: str) -> list[Any] | None:
    """One DepParse per example: the example's own (parser "dataset") or the parser's over its tokens."""
    if parser == "dataset":
        missing = next((x for x in examples if x.parse is None), None)
        if missing is not None:
            raise ValueError(f"data.parser is 'dataset' but {missing.source or missing.id} has no parse")
        return None  # encode_aspect_examples reads each example's own parse
    from ..data.syntax import load_parser

    return load_parser(parser).parse_many([x.text.split() for x in examples])


def _encode(config_section: dict, meta: dict, examples: list[Any], labels: LabelSet, tokenizer) -> list[Any]:
    settings = MODELS.get(config_section["type"]).config_cls
    parses = parses_for(examples, meta["parser"]) if settings.uses_graph else [None] * len(examples)
    return encode_aspect_examples(
        tokenizer, examples, parses, labels, meta["max_length"], pair=settings.input_format == "pair",
        directed=meta["graph_directed"], self_loops=meta["graph_self_loops"],
    )  # fmt: skip


def prepare_aspect(config: ExperimentConfig):
    """Aspect datasets -> encoded aspect items with graphs; selection data from the dataset's validation split."""
    from .experiment import Prepared

    data = config.data
    model_cfg = model_config(config.model)
    spec = DATASETS.get(data.train)
    train = _examples(data.train, "train", data.data_dir)
    validation = _examples(data.validation or data.train, "validation", data.data_dir)
    labels = spec.labels
    meta = {
        "task": "aspect-polarity",
        "max_length": data.max_length,
        "parser": data.parser,
        "graph_directed": data.graph_directed,
        "graph_self_loops": data.graph_self_loops,
    }
    tokenizer = load_tokenizer(model_cfg.backbone)
    return Prepared(
        _encode(config.model, meta, train, labels, tokenizer),
        _encode(config.model, meta, validation, labels, tokenizer),
        labels,
        dict(config.model),
        meta,
        collate=pad_aspect_batch,
    )


def evaluate_aspect_model(
    model_dir: str | Path, dataset: str, split: str = "test", data_dir: str | None = None
) -> dict:
    """Score a saved aspect model on a named aspect dataset split, encoding as it was trained."""
    from ..inference.predict import predict_logits
    from ..models import load_checkpoint

    model, meta = load_checkpoint(model_dir)
    labels = LabelSet(tuple(meta["labels"]))
    examples = _examples(dataset, split, data_dir)
    tokenizer = load_tokenizer(meta["model"]["backbone"])
    items = _encode(meta["model"], meta, examples, labels, tokenizer)
    logits = predict_logits(model, items, collate=pad_aspect_batch)
    return classification_metrics([x.label for x in items], logits.argmax(-1).tolist(), labels)
