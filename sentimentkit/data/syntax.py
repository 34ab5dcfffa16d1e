"""Dependency parsing: a spaCy pipeline turns a sentence (words or raw text) into a `DepParse`.

The shipped parser `parser-en` (sentimentkit/pretrained/parser-en) is a spaCy pipeline (tok2vec + tagger +
morphologizer + parser) that the project trains on UD English EWT (scripts/train_parser.py). Any installed spaCy
pipeline (a package name such as `en_core_web_sm`, or a pipeline directory) may be used instead. spaCy is imported
only when a parser is loaded: `pip install "sentimentkit[absa]"`.

Conventions of the returned `DepParse` (those of CoNLL-U and of `read_conllu`): heads are 1-based with 0 for the
root; the root's relation is `root` (spaCy calls it `ROOT`); `pos` is the fine tag (`token.tag_`: Penn Treebank
XPOS for parser-en) and `upos` the universal tag (`token.pos_`). Every input is parsed as ONE sentence, one tree:
the parser is told that no word after the first starts a sentence, and should a pipeline still return several
sentences, the later roots are attached to the first with the relation `parataxis` (UD's relation for run-on
sentences).

    from sentimentkit.data.syntax import load_parser
    parser = load_parser()                                   # the shipped parser-en
    parser.parse(["The", "battery", "life", "is", "great"])  # pre-tokenized words (ABSA data)
    parser.parse("The battery life is great.")               # raw text: spaCy's tokenizer splits it
    parser.parse_many([words1, words2, ...])                 # batched with nlp.pipe
"""

from __future__ import annotations

import functools
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..types import DepParse

DEFAULT_PARSER = "parser-en"
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
DEFAULT_CACHE_SIZE = 20_000
ROOT = "root"  # UD's root relation; spaCy's parser stores it as "ROOT"
EXTRA_ROOT = "parataxis"  # attaches the root of a second sentence, should a pipeline split one input
# Components that add nothing to a parse; excluded when loading a third-party pipeline (names absent are ignored).
# Sentence splitters go too: each input is one sentence.
UNNEEDED = ("ner", "entity_ruler", "entity_linker", "lemmatizer", "textcat", "textcat_multilabel", "spancat",
            "senter", "sentencizer")  # fmt: skip

Sentence = str | Sequence[str]


class ParserNotFoundError(LookupError):
    """A parser name resolved to no usable spaCy pipeline. The message says what would work."""


def _spacy() -> Any:
    """spaCy, imported without torch when this process has not imported torch.

    thinc (spaCy's layer library) imports torch at import time whenever it is installed, which costs seconds of
    a cold start; the shipped parser is thinc's numpy ops only. So a process that runs its models on ONNX Runtime
    and has not imported torch imports spaCy with torch hidden (thinc then records torch as absent for this
    process; torch itself can still be imported later).
    """
    if sys.modules.get("spacy") is not None:
        return sys.modules["spacy"]
    hide = "torch" not in sys.modules
    try:
        if hide:
            sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError
        import spacy
    except ImportError as error:
        raise ImportError('dependency parsing needs spaCy: pip install "sentimentkit[absa]"') from error
    finally:
        if hide and sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return spacy


def shipped_parsers() -> list[str]:
    """Names of the spaCy pipelines that ship inside the package."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.cfg").is_file())


def resolve_parser(name: str) -> str:
    """The shipped parser's directory, a pipeline directory, or an installed spaCy package name."""
    if (PRETRAINED_DIR / name / "config.cfg").is_file():
        return str(PRETRAINED_DIR / name)
    if name == DEFAULT_PARSER:
        raise ParserNotFoundError(
            f"the shipped parser {name} is missing from {PRETRAINED_DIR / name}: reinstall sentimentkit, or retrain it "
            "with `python scripts/train_parser.py`"
        )
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.cfg").is_file():
            raise ParserNotFoundError(f"{path} is a directory without config.cfg: not a spaCy pipeline directory")
        return str(path)
    if path.exists():
        raise ParserNotFoundError(f"{path} is a file; a spaCy pipeline is a directory holding config.cfg")
    if _spacy().util.is_package(name):
        return name
    raise ParserNotFoundError(
        f"no spaCy pipeline named {name!r}: it is not a shipped parser ({', '.join(shipped_parsers()) or 'none'}), "
        "not a directory and not an installed spaCy package. Pass a pipeline directory, or install a pipeline "
        "package (e.g. `python -m spacy download en_core_web_sm`, which needs the network)"
    )


def load_parser(name: str = DEFAULT_PARSER, cache_size: int = DEFAULT_CACHE_SIZE) -> Parser:
    """Load a spaCy pipeline with a dependency parser: a shipped name, a directory or an installed package.

    Each call loads a new pipeline with its own cache; `parse` and `parse_many` share one parser per name.
    `cache_size=0` turns the cache off (for timing).
    """
    spacy = _spacy()
    where = resolve_parser(name)
    nlp = spacy.load(where, exclude=list(UNNEEDED))
    if not any("token.dep" in nlp.get_pipe_meta(n).assigns for n in nlp.pipe_names):
        raise ParserNotFoundError(
            f"spaCy pipeline {name!r} ({where}) has no dependency parser; its components: {', '.join(nlp.pipe_names)}"
        )
    return Parser(nlp, name=name, cache_size=cache_size)


class Parser:
    """A spaCy pipeline that returns one `DepParse` per sentence, with an LRU cache keyed by the sentence.

    The key is the word tuple for pre-tokenized input and the string for raw text, so the same sentence is
    parsed once and later calls return the same `DepParse` object.
    """

    def __init__(self, nlp: Any, name: str = "", cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.nlp = nlp
        self.name = name
        self.cache_size = cache_size
        self._cache: OrderedDict[str | tuple[str, ...], DepParse] = OrderedDict()
        self._lock = threading.Lock()
        self._pipe_lock = threading.Lock()  # spaCy pipelines are not documented as thread-safe: one pipe at a time

    def __repr__(self) -> str:
        return f"Parser({self.name!r}, components={self.nlp.pipe_names}, cached={len(self._cache)})"

    def parse(self, sentence: Sentence) -> DepParse:
        """Parse one sentence: a list of words (kept as they are) or a raw text (tokenized by spaCy)."""
        return self.parse_many([sentence])[0]

    def parse_many(self, sentences: Iterable[Sentence], batch_size: int = 256) -> list[DepParse]:
        """Parse sentences in batches (nlp.pipe); cached sentences are not parsed again."""
        keys = [_key(s) for s in sentences]
        found = {k: p for k in keys if (p := self._get(k)) is not None}
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        with self._pipe_lock:
            docs = list(self.nlp.pipe((self._make_doc(k) for k in todo), batch_size=batch_size))
        for key, doc in zip(todo, docs, strict=True):
            found[key] = parse_from_doc(doc, text=key if isinstance(key, str) else None)
            self._put(key, found[key])
        return [found[k] for k in keys]

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _make_doc(self, key: str | tuple[str, ...]) -> Any:
        if isinstance(key, str):
            doc = self.nlp.make_doc(" ".join(key.split()))  # runs of whitespace would become words of their own
        else:
            from spacy.tokens import Doc

            doc = Doc(self.nlp.vocab, words=list(key))
        for i, token in enumerate(doc):
            token.is_sent_start = i == 0  # one sentence: the parser may not split the input
        return doc

    def _get(self, key: str | tuple[str, ...]) -> DepParse | None:
        with self._lock:
            parse = self._cache.get(key)
            if parse is not None:
                self._cache.move_to_end(key)
            return parse

    def _put(self, key: str | tuple[str, ...], parse: DepParse) -> None:
        if self.cache_size <= 0:
            return
        with self._lock:
            self._cache[key] = parse
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)


def _key(sentence: Sentence) -> str | tuple[str, ...]:
    if isinstance(sentence, str):
        return sentence
    words = tuple(sentence)
    for i, word in enumerate(words):
        if not isinstance(word, str) or not word.strip():
            raise ValueError(f"word {i} of {words[:12]!r} is {word!r}; expected a non-empty string")
    return words


@functools.lru_cache(maxsize=4)
def shared_parser(name: str) -> Parser:
    """The process's one parser for `name` (loaded on first use; up to four names are kept)."""
    return load_parser(name)


def parse(sentence: Sentence, parser: str | Parser = DEFAULT_PARSER) -> DepParse:
    """Parse one sentence (words or raw text) with a parser or a parser name (loaded once, then shared)."""
    return (parser if isinstance(parser, Parser) else shared_parser(parser)).parse(sentence)


def parse_many(
    sentences: Iterable[Sentence], parser: str | Parser = DEFAULT_PARSER, batch_size: int = 256
) -> list[DepParse]:
    """Parse many sentences in batches with a parser or a parser name (loaded once, then shared)."""
    return (parser if isinstance(parser, Parser) else shared_parser(parser)).parse_many(sentences, batch_size)


def parse_from_doc(doc: Any, text: str | None = None) -> DepParse:
    """A parsed spaCy Doc -> DepParse over its tokens, as one tree (see the module docstring)."""
    heads = [0 if t.head.i == t.i else t.head.i + 1 for t in doc]
    deprels = [ROOT if t.head.i == t.i else t.dep_ for t in doc]
    roots = [i for i, h in enumerate(heads) if h == 0]
    for i in roots[1:]:
        heads[i], deprels[i] = roots[0] + 1, EXTRA_ROOT
    return DepParse(
        words=tuple(t.text for t in doc),
        heads=tuple(heads),
        deprels=tuple(deprels),
        pos=tuple(t.tag_ for t in doc) if doc.has_annotation("TAG") else (),
        upos=tuple(t.pos_ for t in doc) if doc.has_annotation("POS") else (),
        text=text,
    )


def doc_from_parse(vocab: Any, parse: DepParse) -> Any:
    """A gold DepParse (e.g. from read_conllu) -> a spaCy Doc for training: XPOS as `tag`, UPOS as `pos`.

    The inverse of `parse_from_doc` for one tree; `root` becomes spaCy's `ROOT`.
    """
    from spacy.tokens import Doc

    return Doc(
        vocab,
        words=list(parse.words),
        heads=[i if h == 0 else h - 1 for i, h in enumerate(parse.heads)],
        deps=["ROOT" if h == 0 else d for h, d in zip(parse.heads, parse.deprels, strict=True)],
        tags=list(parse.pos) or None,
        pos=list(parse.upos) or None,
    )
