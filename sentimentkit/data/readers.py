"""Readers: one per source format. Each yields frozen dataclasses from `sentimentkit.types`.

A malformed file raises `ReaderError` naming the file, the line (or record) and what was expected.
Compressed files (`.xz`, `.gz`, `.bz2`) are read transparently.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..labels import BINARY, POLARITY3, SENTIMENT5
from ..types import AspectExample, AspectSentence, AspectTerm, DepParse, MultimodalExample, TextExample


class ReaderError(ValueError):
    """A source file does not match its format. The message says where and what was expected."""

    def __init__(self, path: str | Path, line: int | str | None, message: str) -> None:
        # `line` is a line number, or a record name ("record 3", "sentence 812") where a format has no lines.
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


def open_text(path: str | Path, newline: str | None = None, errors: str = "strict") -> IO[str]:
    """Open a UTF-8 text file for reading, decompressing `.xz`, `.gz` and `.bz2` on the fly.

    A leading byte-order mark is dropped (spreadsheets write one). `newline` and `errors` go to the text
    layer (`newline=""` for the csv module). Bytes that are not UTF-8 raise a ReaderError at their line.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    return _Utf8Text(_open_binary(path), path, newline=newline, errors=errors)


def _open_binary(path: Path) -> IO[bytes]:
    suffix = path.suffix.lower()
    if suffix == ".xz":
        return lzma.open(path, "rb")
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    return open(path, "rb")


class _Utf8Text(io.TextIOWrapper):
    """A UTF-8 text stream that turns a decoding error into a ReaderError naming the file and line."""

    def __init__(self, binary: IO[bytes], path: Path, newline: str | None, errors: str) -> None:
        super().__init__(binary, encoding="utf-8-sig", newline=newline, errors=errors)
        self._path = path

    def __next__(self) -> str:
        try:
            return super().__next__()
        except UnicodeDecodeError as e:
            raise _not_utf8(self._path, e) from None

    def read(self, size: int | None = -1) -> str:
        try:
            return super().read(size)
        except UnicodeDecodeError as e:
            raise _not_utf8(self._path, e) from None

    def readline(self, size: int | None = -1) -> str:
        try:
            return super().readline(size)
        except UnicodeDecodeError as e:
            raise _not_utf8(self._path, e) from None


def _not_utf8(path: Path, error: UnicodeDecodeError) -> ReaderError:
    """Find the first line that is not UTF-8 (the text layer decodes in chunks, so it cannot tell)."""
    bad = error.object[error.start : error.start + 1]
    with _open_binary(path) as f:
        for lineno, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                bad = line[e.start : e.start + 1]
                return ReaderError(path, lineno, f"byte {bad!r} is not UTF-8; save the file as UTF-8")
    return ReaderError(path, None, f"byte {bad!r} is not UTF-8; save the file as UTF-8")


# --- Stanford Sentiment Treebank (PTB trees) -------------------------------------------------------

_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_QUOTES = {"``": '"', "''": '"', "`": "'"}


def detokenize(tokens: list[str]) -> str:
    """Turn PTB tokens back into ordinary text ("is n't" -> "isn't", "( a )" -> "(a)").

    Models see what users type, so training text is detokenized the same way users write.
    """
    out = ""
    open_quote = False
    for raw in tokens:
        tok = _PTB_ESCAPES.get(raw, raw)
        tok = _QUOTES.get(tok, tok).replace("\\/", "/").replace("\\*", "*")
        attach_left = (
            tok in {".", ",", ":", ";", "!", "?", "%", ")", "]", "}", "..."}
            or tok.lower() in {"n't", "'s", "'re", "'ve", "'m", "'ll", "'d", "'"}
            or (tok == '"' and open_quote)
        )
        if tok == '"':
            open_quote = not open_quote
        if not out or attach_left or out[-1] in "([{$" or (out.endswith('"') and open_quote and raw != "''"):
            out += tok
        else:
            out += " " + tok
    return out


def _parse_tree(line: str, path: str | Path, lineno: int) -> tuple[int, list]:
    """Parse one PTB tree into (label, children | [word]) nested lists."""
    tokens = re.findall(r"\(|\)|[^\s()]+", line)
    pos = 0

    def node() -> tuple[int, list]:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != "(":
            raise ReaderError(path, lineno, f"expected '(' at token {pos} of the tree")
        pos += 1
        if pos >= len(tokens) or not tokens[pos].isdigit():
            raise ReaderError(path, lineno, f"expected a label 0-4 after '(' at token {pos}")
        label = int(tokens[pos])
        if not 0 <= label <= 4:
            raise ReaderError(path, lineno, f"label {label} is outside 0-4")
        pos += 1
        children: list = []
        while pos < len(tokens) and tokens[pos] != ")":
            if tokens[pos] == "(":
                children.append(node())
            else:
                children.append(tokens[pos])
                pos += 1
        if pos >= len(tokens):
            raise ReaderError(path, lineno, "unbalanced parentheses: a ')' is missing")
        pos += 1
        if not children:
            raise ReaderError(path, lineno, "empty tree node")
        return label, children

    tree = node()
    if pos != len(tokens):
        raise ReaderError(path, lineno, f"text after the end of the tree at token {pos}")
    return tree


def _phrases(tree: tuple[int, list]) -> Iterator[tuple[int, list[str]]]:
    """Yield (label, leaves) for every node, the root first."""
    label, children = tree
    leaves: list[str] = []
    inner: list[tuple[int, list[str]]] = []
    for child in children:
        if isinstance(child, str):
            leaves.append(child)
        else:
            sub = list(_phrases(child))
            inner.extend(sub)
            leaves.extend(sub[0][1])
    yield label, leaves
    yield from inner


def read_sst_trees(path: str | Path, phrases: bool = False) -> Iterator[TextExample]:
    """Read SST PTB trees, one per line. Labels are the 5-point names of `SENTIMENT5`.

    With `phrases=False` each tree gives its sentence (root label). With `phrases=True` every node gives
    one example; each distinct phrase text is yielded once (the first occurrence), as is usual for SST.
    """
    seen: set[str] = set()
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            tree = _parse_tree(line, path, lineno)
            nodes = _phrases(tree) if phrases else iter([next(_phrases(tree))])
            for label, leaves in nodes:
                text = detokenize(leaves)
                if phrases:
                    if text in seen:
                        continue
                    seen.add(text)
                yield TextExample(text=text, label=SENTIMENT5.name(label), id=f"{lineno}", source=f"{path}:{lineno}")


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


# --- CoNLL-U (Universal Dependencies) --------------------------------------------------------------

_MULTIWORD_OR_EMPTY = re.compile(r"[0-9]+-[0-9]+|[0-9]+\.[0-9]+")


def read_conllu(path: str | Path) -> Iterator[DepParse]:
    """Read CoNLL-U: one DepParse per sentence (FORM, HEAD, DEPREL, XPOS as `pos`, UPOS as `upos`).

    `text` and `id` come from the `# text =` and `# sent_id =` comments. Multiword-token lines (`3-4`) and
    empty nodes (`8.1`) are not nodes of the basic tree, so they are passed over, as the format intends.
    """
    block: list[tuple[int, str]] = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.strip():
                block.append((lineno, line))
            elif block:
                yield _conllu_sentence(block, path)
                block = []
    if block:
        yield _conllu_sentence(block, path)


def _conllu_sentence(block: list[tuple[int, str]], path: str | Path) -> DepParse:
    comments: dict[str, str] = {}
    rows: list[tuple[int, list[str]]] = []
    for lineno, line in block:
        if line.startswith("#"):
            key, eq, value = line[1:].partition("=")
            if eq:
                comments.setdefault(key.strip(), value.strip())
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise ReaderError(path, lineno, f"{len(cols)} tab-separated columns; a CoNLL-U word line has 10")
        if _MULTIWORD_OR_EMPTY.fullmatch(cols[0]):
            continue
        if cols[0] != str(len(rows) + 1):
            raise ReaderError(path, lineno, f"word id {cols[0]!r}; expected {len(rows) + 1} (ids count from 1)")
        if not cols[6].isdecimal():
            raise ReaderError(path, lineno, f"head {cols[6]!r} is not an integer; expected a word id or 0 (root)")
        rows.append((lineno, cols))
    if not rows:
        raise ReaderError(path, block[0][0], "a sentence without word lines")
    for lineno, cols in rows:
        if int(cols[6]) > len(rows):
            raise ReaderError(path, lineno, f"head {cols[6]} is outside 0..{len(rows)}")
    return DepParse(
        words=tuple(cols[1] for _, cols in rows),
        heads=tuple(int(cols[6]) for _, cols in rows),
        deprels=tuple(cols[7] for _, cols in rows),
        pos=tuple(cols[4] for _, cols in rows),
        upos=tuple(cols[3] for _, cols in rows),
        text=comments.get("text"),
        id=comments.get("sent_id"),
    )


# --- TweetEval --------------------------------------------------------------------------------------


def read_tweeteval(
    text_path: str | Path, labels_path: str | Path, mapping_path: str | Path | None = None
) -> Iterator[TextExample]:
    """Read a TweetEval split: `{split}_text.txt` and `{split}_labels.txt`, aligned line by line.

    Labels are named through `mapping.txt` ("0\\tanger" per line); without it the label ids are kept as
    strings. Tweets keep their text; only trailing whitespace is removed.
    """
    mapping = _read_label_mapping(mapping_path) if mapping_path is not None else None
    with open_text(text_path) as f:
        texts = [line.rstrip() for line in f]
    with open_text(labels_path) as f:
        labels = [line.strip() for line in f]
    if len(texts) != len(labels):
        raise ReaderError(
            text_path, None, f"{len(texts)} tweets but {labels_path} has {len(labels)} labels; they must align"
        )
    for lineno, (text, label) in enumerate(zip(texts, labels, strict=True), 1):
        if not text:
            raise ReaderError(text_path, lineno, "empty tweet; each line must hold the tweet for that label line")
        if mapping is not None and label not in mapping:
            raise ReaderError(labels_path, lineno, f"label {label!r} is not in {mapping_path} ({sorted(mapping)})")
        if mapping is None and not label.isdecimal():
            raise ReaderError(labels_path, lineno, f"label {label!r}; expected an integer label id")
        name = mapping[label] if mapping is not None else label
        yield TextExample(text=text, label=name, id=str(lineno), source=f"{text_path}:{lineno}")


def _read_label_mapping(path: str | Path) -> dict[str, str]:
    """Read `id<TAB>name` lines into {id: name}."""
    mapping: dict[str, str] = {}
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split(maxsplit=1)
            if len(fields) != 2 or not fields[0].isdecimal():
                raise ReaderError(path, lineno, f"{line.strip()!r}; expected 'id<TAB>name' such as '0\\tanger'")
            if fields[0] in mapping:
                raise ReaderError(path, lineno, f"label id {fields[0]} is listed twice")
            mapping[fields[0]] = fields[1].strip()
    return mapping


# --- CSV: IMDb, CMU-MOSI labels, user texts ---------------------------------------------------------


def _csv_records(path: str | Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) per CSV record after checking the header and each record's number of fields.

    Quoted fields may hold newlines, so `line` is the csv reader's `line_num`: the line where the record ends.
    """
    with open_text(path, newline="") as f:
        rows = csv.reader(f, strict=True)
        try:
            header = next(rows, [])
            missing = [column for column in required if column not in header]
            if missing:
                raise ReaderError(path, 1, f"no column {', '.join(missing)}; the header has {header}")
            for values in rows:
                if not values:
                    continue  # a blank line
                if len(values) != len(header):
                    raise ReaderError(path, rows.line_num, f"{len(values)} fields; the header has {len(header)}")
                yield rows.line_num, dict(zip(header, values, strict=True))
        except csv.Error as e:
            raise ReaderError(path, rows.line_num, f"invalid CSV: {e}") from None


def read_imdb_csv(path: str | Path) -> Iterator[TextExample]:
    """Read an IMDb split CSV (`id,label,...,text`, label 0 = negative, 1 = positive; other columns ignored).

    A file without a `label` column (`unsup.csv.xz`: `id,text`) gives unlabelled examples (label None).
    """
    for line, row in _csv_records(path, ("id", "text")):
        label = row.get("label")
        if label is not None and label not in ("0", "1"):
            raise ReaderError(path, line, f"label {label!r}; expected 0 (negative) or 1 (positive)")
        if not row["text"].strip():
            raise ReaderError(path, line, f"review {row['id']!r} has an empty text")
        yield TextExample(
            text=row["text"],
            label=BINARY.name(int(label)) if label is not None else None,
            id=row["id"],
            source=f"{path}:{line}",
        )


_MOSI_MODES = ("train", "valid", "test")


def read_mosi_labels(path: str | Path) -> Iterator[MultimodalExample]:
    """Read an MMSA `label.csv` (CMU-MOSI): one clip per row, sentiment score in [-3, 3], split from `mode`."""
    for line, row in _csv_records(path, ("video_id", "clip_id", "text", "label", "annotation", "mode")):
        if row["mode"] not in _MOSI_MODES:
            raise ReaderError(path, line, f"mode {row['mode']!r}; expected one of {_MOSI_MODES}")
        try:
            score = float(row["label"])
        except ValueError:
            raise ReaderError(path, line, f"label {row['label']!r} is not a number") from None
        if not -3.0 <= score <= 3.0:
            raise ReaderError(path, line, f"label {score} is outside [-3, 3]")
        yield MultimodalExample(
            id=f"{row['video_id']}_{row['clip_id']}",
            text=row["text"],
            score=score,
            annotation=row["annotation"] or None,
            split=row["mode"],
            source=f"{path}:{line}",
        )


def read_text_lines(path: str | Path) -> Iterator[TextExample]:
    """Read one text per line (plain CLI input). Blank lines are not texts; `id` is the line number."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield TextExample(text=line.strip(), id=str(lineno), source=f"{path}:{lineno}")


def read_texts_csv(path: str | Path, column: str) -> Iterator[TextExample]:
    """Read the texts in `column` of a CSV file (CLI input), one per record; `id` is the record's line."""
    for line, row in _csv_records(path, (column,)):
        yield TextExample(text=row[column], id=str(line), source=f"{path}:{line}")


def read_texts_jsonl(path: str | Path, field: str) -> Iterator[TextExample]:
    """Read the string `field` of each JSON object in a JSON Lines file (CLI input); `id` is the line number."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ReaderError(path, lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
            if not isinstance(record, dict):
                raise ReaderError(path, lineno, f"expected a JSON object, found {type(record).__name__}")
            if field not in record:
                raise ReaderError(path, lineno, f"no field {field!r}; this object has {sorted(record)}")
            if not isinstance(record[field], str):
                raise ReaderError(path, lineno, f"field {field!r} is {type(record[field]).__name__}; expected a string")
            yield TextExample(text=record[field], id=str(lineno), source=f"{path}:{lineno}")
