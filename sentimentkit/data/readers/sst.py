"""Stanford Sentiment Treebank: PTB trees, one per line, read as sentences or as every phrase."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ...labels import SENTIMENT5
from ...types import TextExample
from .base import ReaderError, open_text

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
