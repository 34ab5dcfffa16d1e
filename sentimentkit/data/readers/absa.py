"""Aspect-based sentiment: the 3-line format, SemEval-2014 Task 4 XML and the GCN papers' CoreNLP JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from ...labels import POLARITY3
from ...types import AspectExample, AspectSentence, AspectTerm, DepParse
from .base import ReaderError, open_text

# --- ABSA 3-line format (ABSA-PyTorch, ASGCN) ------------------------------------------------------

_TARGET = "$T$"
_ABSA_POLARITIES = ("-1", "0", "1")  # ids 0, 1, 2 of POLARITY3 after adding 1


def read_absa_lines(path: str | Path) -> Iterator[AspectExample]:
    """Read the 3-line aspect format: sentence with the aspect replaced by `$T$`, aspect, polarity -1/0/1.

    Every `$T$` is replaced by the aspect and `spans` holds each replaced occurrence (Twitter marks some
    aspects twice or more). `id` and `source` point at the instance's first line.
    """
    group: list[str] = []
    lineno = 0
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            group.append(line)
            if len(group) == 3:
                yield _absa_example(group, path, lineno - 2)
                group = []
    if any(line.strip() for line in group):
        raise ReaderError(
            path,
            lineno - len(group) + 1,
            f"incomplete instance: {len(group)} of 3 lines (sentence, aspect, polarity) at the end of the file",
        )


def _absa_example(group: list[str], path: str | Path, first: int) -> AspectExample:
    sentence, aspect, polarity = (line.strip() for line in group)
    if _TARGET not in sentence:
        raise ReaderError(path, first, f"the sentence has no {_TARGET} marking the aspect: {sentence[:80]!r}")
    if not aspect:
        raise ReaderError(path, first + 1, f"empty aspect line; expected the term that {_TARGET} stands for")
    if polarity not in _ABSA_POLARITIES:
        raise ReaderError(
            path, first + 2, f"polarity {polarity!r} of the instance at line {first}; expected -1, 0 or 1"
        )
    pieces = sentence.split(_TARGET)
    text, spans = pieces[0], []
    for piece in pieces[1:]:
        spans.append((len(text), len(text) + len(aspect)))
        text += aspect + piece
    return AspectExample(
        text=text,
        aspect=aspect,
        spans=tuple(spans),
        polarity=POLARITY3.name(int(polarity) + 1),
        id=str(first),
        source=f"{path}:{first}",
    )


# --- SemEval-2014 Task 4 XML -----------------------------------------------------------------------

_XML_POLARITIES = ("positive", "negative", "neutral", "conflict")


def read_semeval_xml(path: str | Path) -> Iterator[AspectSentence]:
    """Read SemEval-2014 Task 4 XML: every `<sentence>` with its aspect terms (character offsets).

    `conflict` polarities are kept (`absa_examples` drops them); a sentence without aspect terms has
    `terms=()`. Each offset is checked: `text[from:to]` must equal the term. Aspect categories are not read.
    Errors name the sentence id, as XML elements carry no line numbers once parsed.
    """
    with open_text(path) as f:
        try:
            root = ET.parse(f).getroot()
        except ET.ParseError as e:
            raise ReaderError(path, e.position[0], f"invalid XML: {e}") from None
    sentences = list(root.iter("sentence"))
    if not sentences:
        raise ReaderError(path, None, f"no <sentence> elements under <{root.tag}>; expected SemEval-2014 XML")
    for element in sentences:
        yield _xml_sentence(element, path)


def _xml_sentence(element: ET.Element, path: str | Path) -> AspectSentence:
    sid = element.get("id")
    if sid is None:
        raise ReaderError(path, None, "a <sentence> has no id attribute")
    where = f"sentence {sid}"
    text = element.findtext("text")
    if text is None:
        raise ReaderError(path, where, "no <text> element")
    terms = []
    for k, aspect in enumerate(element.iterfind("aspectTerms/aspectTerm")):
        term, start, end, polarity = (aspect.get(a) for a in ("term", "from", "to", "polarity"))
        if term is None or start is None or end is None:
            raise ReaderError(path, where, f"aspectTerm {k} needs term, from and to attributes")
        if not (start.isdecimal() and end.isdecimal()):
            raise ReaderError(path, where, f"aspectTerm {term!r}: from={start!r} to={end!r} are not offsets")
        if text[int(start) : int(end)] != term:
            raise ReaderError(
                path,
                where,
                f"aspectTerm {term!r} does not match text[{start}:{end}] = {text[int(start) : int(end)]!r}",
            )
        if polarity is not None and polarity not in _XML_POLARITIES:
            raise ReaderError(path, where, f"aspectTerm {term!r}: polarity {polarity!r}; expected {_XML_POLARITIES}")
        terms.append(AspectTerm(term=term, start=int(start), end=int(end), polarity=polarity))
    return AspectSentence(text=text, terms=tuple(terms), id=sid, source=f"{path}:{where}")


def absa_examples(sentence: AspectSentence, skip_conflict: bool = True) -> Iterator[AspectExample]:
    """Explode a sentence into one AspectExample per aspect term (the polarity task usually drops `conflict`)."""
    for k, term in enumerate(sentence.terms):
        if skip_conflict and term.polarity == "conflict":
            continue
        yield AspectExample(
            text=sentence.text,
            aspect=term.term,
            spans=((term.start, term.end),),
            polarity=term.polarity,
            id=f"{sentence.id}/{k}" if sentence.id is not None else None,
            parse=sentence.parse,
            source=sentence.source,
        )


# --- CoreNLP-parsed ABSA JSON (DualGCN / CDT) ------------------------------------------------------

_CORENLP_KEYS = ("token", "pos", "head", "deprel", "aspects")
_CORENLP_ASPECT_KEYS = ("term", "from", "to", "polarity")


def read_corenlp_json(path: str | Path) -> Iterator[AspectSentence]:
    """Read the GCN papers' parsed ABSA JSON: a list of `{token, pos, head, deprel, aspects}` records.

    `text` is the tokens joined by single spaces; each aspect's token range [from, to) becomes a character
    span in it. Heads are 1-based with 0 for the root. Errors name the record (0-based index in the list).
    """
    with open_text(path) as f:
        try:
            records = json.load(f)
        except json.JSONDecodeError as e:
            raise ReaderError(path, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(records, list):
        raise ReaderError(path, None, f"expected a JSON list of sentence records, found {type(records).__name__}")
    for index, record in enumerate(records):
        yield _corenlp_sentence(record, path, index)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _corenlp_sentence(record: object, path: str | Path, index: int) -> AspectSentence:
    where = f"record {index}"
    if not isinstance(record, dict) or any(key not in record for key in _CORENLP_KEYS):
        raise ReaderError(path, where, f"expected an object with keys {list(_CORENLP_KEYS)}")
    tokens = record["token"]
    for key in ("token", "pos", "deprel"):
        if not isinstance(record[key], list) or not all(isinstance(x, str) for x in record[key]):
            raise ReaderError(path, where, f"{key!r} must be a list of strings")
    if not isinstance(record["head"], list) or not all(_is_int(h) for h in record["head"]):
        raise ReaderError(path, where, "'head' must be a list of integers")
    for key in ("pos", "head", "deprel"):
        if len(record[key]) != len(tokens):
            raise ReaderError(path, where, f"{key!r} has {len(record[key])} entries for {len(tokens)} tokens")
    for i, head in enumerate(record["head"]):
        if not 0 <= head <= len(tokens):
            raise ReaderError(path, where, f"head[{i}] = {head} is outside 0..{len(tokens)} (1-based, 0 = root)")
    if not isinstance(record["aspects"], list):
        raise ReaderError(path, where, "'aspects' must be a list")
    text = " ".join(tokens)
    starts = [0]  # character offset of each token in `text`
    for token in tokens:
        starts.append(starts[-1] + len(token) + 1)
    terms = tuple(_corenlp_term(aspect, k, tokens, starts, path, where) for k, aspect in enumerate(record["aspects"]))
    parse = DepParse(
        words=tuple(tokens),
        heads=tuple(record["head"]),
        deprels=tuple(record["deprel"]),
        pos=tuple(record["pos"]),
        text=text,
        id=str(index),
    )
    return AspectSentence(text=text, terms=terms, id=str(index), parse=parse, source=f"{path}:{where}")


def _corenlp_term(
    aspect: object, k: int, tokens: list[str], starts: list[int], path: str | Path, where: str
) -> AspectTerm:
    if not isinstance(aspect, dict) or any(key not in aspect for key in _CORENLP_ASPECT_KEYS):
        raise ReaderError(path, where, f"aspect {k} must be an object with keys {list(_CORENLP_ASPECT_KEYS)}")
    first, last, polarity = aspect["from"], aspect["to"], aspect["polarity"]
    if not (_is_int(first) and _is_int(last) and 0 <= first < last <= len(tokens)):
        raise ReaderError(path, where, f"aspect {k}: token range [{first}, {last}) is not inside 0..{len(tokens)}")
    words = tokens[first:last]
    if aspect["term"] != words and aspect["term"] != " ".join(words):
        raise ReaderError(path, where, f"aspect {k}: term {aspect['term']!r} differs from tokens {words!r}")
    if not isinstance(polarity, str):
        raise ReaderError(path, where, f"aspect {k}: polarity must be a string, found {polarity!r}")
    start, end = starts[first], starts[last] - 1
    return AspectTerm(term=" ".join(words), start=start, end=end, polarity=polarity)
