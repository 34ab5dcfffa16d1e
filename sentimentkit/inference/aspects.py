"""Aspect-based sentiment: which aspects a text talks about, and how it feels about each.

An `AspectPipeline` holds a polarity model (any aspect-polarity checkpoint: iagcn, asgcn, spc ...), optionally an
extractor (`ate`) and, for models that read dependency graphs, a parser. Texts are cut into sentences (the models
were trained on sentences); each sentence is parsed once (the parser caches by sentence), its aspects are the
given terms or the extracted ones, and each occurrence gets its own polarity. Every span is a character span
into the caller's text.

A shipped aspect model (`absa-en`) is a folder whose config.json has task "aspect-sentiment" and names its
component folders: {"components": {"extractor": "extractor", "polarity": "polarity"}}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from ..labels import LabelSet
from ..types import AspectExample, AspectPrediction

TASK = "aspect-sentiment"
Span = tuple[int, int]
# A sentence ends at . ! ? (runs of them, and closing quotes or brackets after them) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+")


def sentence_spans(text: str) -> list[Span]:
    """Character spans of the sentences of `text`, without surrounding whitespace; blank text has none."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


def find_term(text: str, term: str) -> list[Span]:
    """Every occurrence of `term` in `text`, case-insensitively and not inside a longer (or hyphenated) word."""
    term = term.strip()
    if not term:
        return []
    pattern = re.escape(term)
    if term[0].isalnum():
        pattern = r"(?<![\w-])" + pattern
    if term[-1].isalnum():
        pattern += r"(?![\w-])"
    return [m.span() for m in re.finditer(pattern, text, flags=re.IGNORECASE)]


def is_aspect_model(directory: str | Path) -> bool:
    path = Path(directory) / "config.json"
    return path.exists() and json.loads(path.read_text(encoding="utf-8")).get("task") == TASK


class AspectPipeline:
    """Aspects and their polarity for raw texts.

    polarity and extractor are (model, meta, tokenizer) triples as `from_pretrained` loads them; parser: a
    `data.syntax.Parser` for graph models (default: the one the polarity model was trained with).
    pipeline(texts) extracts the aspects first (needs an extractor); pipeline(texts, aspects=["screen"]) scores
    the given terms wherever they occur (an aspect list for all texts, or one list per text).
    """

    def __init__(
        self,
        polarity: tuple,
        extractor: tuple | None = None,
        parser=None,
        batch_size: int = 32,
    ) -> None:
        from ..models import MODELS

        self.polarity_model, self.polarity_meta, self.polarity_tokenizer = polarity
        self.extractor = extractor
        self.labels = LabelSet(tuple(self.polarity_meta["labels"]))
        self.settings = MODELS.get(self.polarity_meta["model"]["type"]).config_cls
        if self.settings.uses_graph and parser is None:
            from ..data.syntax import DEFAULT_PARSER, load_parser

            # a model trained on a dataset's own trees ("dataset") reads raw text through the shipped parser
            name = self.polarity_meta.get("parser", DEFAULT_PARSER)
            parser = load_parser(DEFAULT_PARSER if name == "dataset" else name)
        self.parser = parser
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, batch_size: int = 32, merge_adapters: bool = False
    ) -> AspectPipeline:
        """A shipped aspect model folder (config.json with "components") or a bare aspect-polarity checkpoint."""
        directory = Path(directory)
        meta = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if meta.get("task") == TASK:
            parts = meta.get("components") or {}
            if "polarity" not in parts:
                raise ValueError(f"{directory}/config.json: 'components' must name a 'polarity' folder")
            polarity = _load_part(directory / parts["polarity"], "aspect-polarity", merge_adapters)
            extractor = None
            if parts.get("extractor"):
                extractor = _load_part(directory / parts["extractor"], "aspect-extraction", merge_adapters)
            return cls(polarity, extractor, batch_size=batch_size)
        return cls(_load_part(directory, "aspect-polarity", merge_adapters), batch_size=batch_size)

    @property
    def can_extract(self) -> bool:
        return self.extractor is not None

    def extract(self, texts: str | Sequence[str]) -> list[list[Span]]:
        """The aspect term spans of each text (no polarity)."""
        texts = _as_texts(texts)
        return [sorted(found) for found in self._locate(texts, None)]

    def __call__(
        self,
        texts: str | Sequence[str],
        aspects: Sequence[str] | Sequence[Sequence[str]] | None = None,
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[list[AspectPrediction]]:
        """One list of AspectPrediction per text, in text order (each list sorted by position)."""
        from ..data.absa_collate import encode_aspect_examples, pad_aspect_batch
        from .predict import predict_logits, softmax

        texts = _as_texts(texts)
        per_text = _per_text_aspects(texts, aspects)
        located = self._locate(texts, per_text)
        if per_text is not None:
            wanted = {t for terms in per_text for t in terms}
            found = {texts[i][a:b].lower() for i, spans in enumerate(located) for a, b in spans}
            missing = sorted(t for t in wanted if t.strip().lower() not in found)
            if missing and len(texts) == 1:
                raise ValueError(f"aspect {missing[0]!r} does not occur in the text {texts[0][:80]!r}")
            if missing and not any(located):
                raise ValueError(f"none of the aspects {missing} occurs in any of the {len(texts)} texts")

        examples, owners = [], []  # owners: (text index, absolute span)
        for i, (text, spans) in enumerate(zip(texts, located, strict=True)):
            sentences = sentence_spans(text)
            for a, b in spans:
                s0, s1 = next(((x, y) for x, y in sentences if x <= a and b <= y), (0, len(text)))
                sentence = text[s0:s1]
                examples.append(AspectExample(text=sentence, aspect=text[a:b], spans=((a - s0, b - s0),)))
                owners.append((i, (a, b)))
        results: list[list[AspectPrediction]] = [[] for _ in texts]
        if not examples:
            return results
        parses = self.parser.parse_many([x.text for x in examples]) if self.settings.uses_graph else None
        meta = self.polarity_meta
        items = encode_aspect_examples(
            self.polarity_tokenizer, examples, parses, self.labels, meta["max_length"],
            pair=self.settings.input_format == "pair",
            directed=meta.get("graph_directed", False), self_loops=meta.get("graph_self_loops", True),
        )  # fmt: skip
        logits = predict_logits(
            self.polarity_model, items, batch_size or self.batch_size, on_batch, collate=pad_aspect_batch
        )
        probs = softmax(logits)
        for (i, (a, b)), p in zip(owners, probs, strict=True):
            k = int(p.argmax())
            results[i].append(
                AspectPrediction(
                    aspect=texts[i][a:b],
                    start=a,
                    end=b,
                    polarity=self.labels.names[k],
                    confidence=float(p[k]),
                    probabilities={n: float(v) for n, v in zip(self.labels.names, p, strict=True)},
                )
            )
        return [sorted(r, key=lambda x: (x.start, x.end)) for r in results]

    def _locate(self, texts: list[str], per_text: list[list[str]] | None) -> list[list[Span]]:
        """Aspect spans per text: occurrences of the given terms, or what the extractor finds per sentence."""
        if per_text is not None:
            return [
                sorted({span for term in terms for span in find_term(text, term)})
                for text, terms in zip(texts, per_text, strict=True)
            ]
        if self.extractor is None:
            raise ValueError("this aspect model has no extractor: pass the aspects to score (aspects=[...])")
        from ..training.extraction import extract_aspects

        model, meta, tokenizer = self.extractor
        sentences = [(i, s) for i, text in enumerate(texts) for s in sentence_spans(text)]
        terms = extract_aspects(
            model, tokenizer, [texts[i][a:b] for i, (a, b) in sentences], meta["max_length"],
            LabelSet(tuple(meta["labels"])),
        )  # fmt: skip
        out: list[list[Span]] = [[] for _ in texts]
        for (i, (a, _)), found in zip(sentences, terms, strict=True):
            out[i].extend((a + t.start, a + t.end) for t in found)
        return out


def _load_part(directory: Path, task: str, merge_adapters: bool) -> tuple:
    from ..encoders.text import load_tokenizer
    from ..models import MODELS, load_checkpoint
    from ..models.base import read_meta

    meta = read_meta(directory)
    spec = MODELS.get(meta["model"]["type"])
    if spec.task != task:
        raise ValueError(f"{directory} holds a {meta['model']['type']!r} model ({spec.task}); expected a {task} model")
    # on the plain-torch BERT and the `tokenizers` tokenizer when the backbone is BERT (no transformers import)
    implementation = "native" if "implementation" in spec.config_cls.__dataclass_fields__ else "transformers"
    model, meta = load_checkpoint(directory, {"implementation": implementation})
    encoder = getattr(model, "encoder", None)
    if merge_adapters and encoder is not None and hasattr(encoder, "merge_adapters"):
        encoder.merge_adapters()
    return model, meta, load_tokenizer(meta["model"]["backbone"], implementation)


def _as_texts(texts: str | Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is a {type(text).__name__}; expected str")
    return list(texts)


def _per_text_aspects(texts: list[str], aspects) -> list[list[str]] | None:
    """None (extract), one term list for every text, or one list per text."""
    if aspects is None:
        return None
    if isinstance(aspects, str):
        aspects = [aspects]
    aspects = list(aspects)
    if all(isinstance(a, str) for a in aspects):
        return [list(aspects)] * len(texts)
    if len(aspects) != len(texts) or not all(isinstance(a, list | tuple) for a in aspects):
        raise ValueError(f"aspects: expected a list of terms for all texts, or one list per text ({len(texts)} lists)")
    return [list(a) for a in aspects]
