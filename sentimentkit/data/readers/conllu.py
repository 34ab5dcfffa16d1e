"""CoNLL-U (Universal Dependencies): one dependency parse per sentence."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ...types import DepParse
from .base import ReaderError, open_text

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
