"""Characters <-> words <-> subwords, and a word-level dependency graph projected onto subword positions.

A sentence is a text plus its words (whitespace tokens, or the words of a dependency parse). The encoder reads
the words joined by single spaces, so every subword belongs to exactly one word even where the words split a
whitespace token ("don't" parsed as "do" + "n't" is read as "do n't"); character offsets always refer to the
original text. Words must spell the text in order up to whitespace: a parse made from another sentence or
another tokenization raises `AlignmentError` instead of being applied to the wrong positions.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..types import AspectSentence, DepParse, Span

if TYPE_CHECKING:
    from .encoding import Tokenizer

_WORD = re.compile(r"\w+|[^\w\s]")
# A sentence ends at . ! ? (runs of them, and closing quotes or brackets after them) followed by whitespace, or
# at the full-width 。！？ of Chinese and Japanese text, which need no space after them.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+|[。！？]+[”」』）]*\s*")


class AlignmentError(ValueError):
    """Words (of a parse, usually) that do not spell the sentence they are applied to."""


def word_char_spans(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """The character span [start, end) of each word in `text`, matched in order.

    Only whitespace may differ: between words (none, one or many characters) and inside them ("3 1/2" against
    "3\\xa01/2", "decor" against "deco r"); every other character must match exactly, so the words and the text
    are the same sentence. A whitespace-only word gets an empty span.
    """
    spans, _ = _match_words(text, words)
    return spans


def _match_words(text: str, words: Sequence[str]) -> tuple[list[tuple[int, int]], list[list[int]]]:
    """Spans of the words in `text`, and for every character of every word its index in `text`."""
    spans: list[tuple[int, int]] = []
    char_maps: list[list[int]] = []
    pos = 0
    for k, word in enumerate(words):
        pos = _skip_space(text, pos)
        start, char_map = pos, []
        for ch in word:
            if ch.isspace():  # matches any whitespace, or none
                char_map.append(pos)
                continue
            pos = _skip_space(text, pos)
            if pos >= len(text) or text[pos] != ch:
                found = repr(text[pos : pos + 20]) if pos < len(text) else "the end of the text"
                raise AlignmentError(
                    f"word {k} {word!r} does not match the text at character {pos} ({found}) in {text[:80]!r}; "
                    f"words {list(words[max(0, k - 3) : k + 2])!r} come from another tokenization or sentence: "
                    "parse the sentence's own text, or pass words that spell it up to whitespace"
                )
            char_map.append(pos)
            pos += 1
        spans.append((start, pos))
        char_maps.append(char_map)
    rest = text[pos:]
    if rest.strip():
        raise AlignmentError(
            f"the text goes on after the last of {len(words)} words: {rest.strip()[:40]!r} in {text[:80]!r}; "
            "the words do not cover the sentence"
        )
    return spans, char_maps


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


@dataclass(frozen=True)
class WordAlignment:
    """A sentence's words and subwords with their character spans in `text`.

    Subword indices count the content tokens only (no [CLS]/[SEP]); `subword_words[i]` is the word of subword i.
    """

    text: str
    words: tuple[str, ...]
    word_spans: tuple[tuple[int, int], ...]
    subword_ids: tuple[int, ...]
    subword_spans: tuple[tuple[int, int], ...]
    subword_words: tuple[int, ...]

    @property
    def word_to_subwords(self) -> tuple[tuple[int, ...], ...]:
        """The subword indices of each word (empty for a word that makes no subword, such as a space token)."""
        groups: list[list[int]] = [[] for _ in self.words]
        for i, w in enumerate(self.subword_words):
            groups[w].append(i)
        return tuple(tuple(g) for g in groups)

    def word_indices(self, start: int, end: int) -> list[int]:
        """Words whose characters overlap [start, end) (an aspect occurrence)."""
        return [k for k, (a, b) in enumerate(self.word_spans) if a < end and start < b]

    def subword_indices(self, start: int, end: int) -> list[int]:
        """Subwords whose characters overlap [start, end): "food" of "food." but not its "."."""
        return [i for i, (a, b) in enumerate(self.subword_spans) if a < end and start < b]


def align_words(tokenizer: Tokenizer, text: str, words: Sequence[str] | None = None) -> WordAlignment:
    """Align `text`, its words (default: whitespace tokens) and the subwords of a fast HF tokenizer.

    The tokenizer reads " ".join(words). Raises AlignmentError when the words do not spell `text`.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"{type(tokenizer).__name__} is not a fast tokenizer; alignment needs offset mappings")
    words = tuple(text.split()) if words is None else tuple(words)
    spans, char_maps = _match_words(text, words)
    joined_starts, offset = [], 0  # where each word starts in " ".join(words)
    for word in words:
        joined_starts.append(offset)
        offset += len(word) + 1
    encoding = tokenizer(" ".join(words), add_special_tokens=False, return_offsets_mapping=True)
    sub_words, sub_spans = [], []
    for a, b in encoding["offset_mapping"]:
        k = bisect_right(joined_starts, a) - 1
        if k < 0 or a >= joined_starts[k] + len(words[k]):  # a token on a separating space joins the next word
            k += 1
        k = min(k, len(words) - 1)
        local_a = min(max(a - joined_starts[k], 0), len(words[k]) - 1)
        local_b = min(max(b - joined_starts[k], local_a + 1), len(words[k]))
        sub_words.append(k)
        sub_spans.append((char_maps[k][local_a], char_maps[k][local_b - 1] + 1))
    return WordAlignment(
        text=text,
        words=words,
        word_spans=tuple(spans),
        subword_ids=tuple(encoding["input_ids"]),
        subword_spans=tuple(sub_spans),
        subword_words=tuple(sub_words),
    )


def align_parse(tokenizer: Tokenizer, parse: DepParse, text: str | None = None) -> WordAlignment:
    """Align a parse's words with `text` (default: the parse's own text, else its words joined by spaces)."""
    if text is None:
        text = parse.text if parse.text is not None else " ".join(parse.words)
    return align_words(tokenizer, text, parse.words)


def adjacency(parse: DepParse, directed: bool = False, self_loops: bool = True) -> np.ndarray:
    """The dependency graph as an (n_words, n_words) 0/1 matrix.

    Directed: A[head, dependent] = 1, so a GCN row (A @ X)[head] gathers its dependents. Undirected (default)
    adds the reverse arcs. Self-loops (default) keep each word's own state in its update.
    """
    n = len(parse.words)
    matrix = np.zeros((n, n), dtype=np.float32)
    for dependent, head in enumerate(parse.heads):
        if head > 0:
            matrix[head - 1, dependent] = 1.0
    if not directed:
        matrix = np.maximum(matrix, matrix.T)
    if self_loops:
        np.fill_diagonal(matrix, 1.0)
    return matrix


def project_to_subwords(word_adj: np.ndarray, word_to_subwords: Sequence[Sequence[int]], n_subwords: int) -> np.ndarray:
    """A word graph on subword positions: (n_subwords, n_subwords).

    Every subword of word i links to every subword of word j when word_adj[i, j]; subwords of one word link to
    each other (they are one node cut up); a subword links to itself when its word has a self-loop. Positions
    that belong to no word ([CLS], [SEP], padding) keep only a self-loop, so every row has a neighbour.
    """
    n_words = len(word_to_subwords)
    if word_adj.shape != (n_words, n_words):
        raise ValueError(f"word_adj has shape {word_adj.shape} for {n_words} words")
    member = np.zeros((n_subwords, n_words), dtype=np.float32)  # member[p, i] = 1 if subword p is in word i
    for i, subwords in enumerate(word_to_subwords):
        member[list(subwords), i] = 1.0
    matrix = member @ word_adj @ member.T  # (n_subwords, n_subwords)
    same_word = member @ member.T
    np.fill_diagonal(same_word, 0.0)
    matrix = np.maximum(matrix, same_word)
    orphans = np.flatnonzero(member.sum(1) == 0)
    matrix[orphans, orphans] = 1.0
    return (matrix > 0).astype(np.float32)


# --- where are the words, sentences and terms of a raw text ----------------------------------------------------


def word_spans(text: str, boundaries: Sequence[int] = ()) -> list[Span]:
    """Character spans of the words of `text`, each word also cut at every offset in `boundaries`."""
    cuts = sorted(set(boundaries))
    spans: list[Span] = []
    for match in _WORD.finditer(text):
        start, end = match.span()
        for cut in cuts:
            if start < cut < end:
                spans.append(Span(start, cut))
                start = cut
        spans.append(Span(start, end))
    return spans


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
            out.append(Span(a, b))
    return out


def find_term(text: str, term: str) -> list[Span]:
    """Every occurrence of `term` in `text`, by case-insensitive character search on the raw text.

    An occurrence inside a longer word does not count ("screen" in "screenshot", "price" in "well-priced"), where
    a word is a run of letters and digits, or such runs joined by single hyphens. Punctuation, "--" and spaces
    end a word; so does the edge of a character from a script written without spaces (Chinese, Japanese), where
    any occurrence counts.
    """
    term = term.strip()
    if not term:
        return []
    lowered, needle = text.casefold(), term.casefold()
    if len(lowered) != len(text):  # casefolding changed lengths (e.g. "ß"): fall back to lower(), which keeps them
        lowered, needle = text.lower(), term.lower()
        if len(lowered) != len(text):
            lowered, needle = text, term
    spans, start = [], lowered.find(needle)
    while start != -1:
        end = start + len(needle)
        if _word_edge(text, start, before=True) and _word_edge(text, end, before=False):
            spans.append(Span(start, end))
        start = lowered.find(needle, start + 1)
    return spans


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() and not _spaceless(ch)


def _spaceless(ch: str) -> bool:
    """Characters of scripts written without spaces between words (CJK ideographs, kana, Thai, Lao, Khmer ...)."""
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "HANGUL SYLLABLE"))


def _word_edge(text: str, position: int, before: bool) -> bool:
    """Whether a term may start (before=True) or end at `position` without splitting a word."""
    inner = text[position] if before and position < len(text) else text[position - 1] if position > 0 else ""
    outer_at = position - 1 if before else position
    if not inner or not _is_word_char(inner) or not 0 <= outer_at < len(text):
        return True
    outer = text[outer_at]
    if _is_word_char(outer):
        return False
    if outer == "-":  # a single hyphen between word characters joins a compound ("well-priced")
        beyond_at = outer_at - 1 if before else outer_at + 1
        return not (0 <= beyond_at < len(text) and _is_word_char(text[beyond_at]))
    return True


def term_spans(sentence: AspectSentence) -> list[Span]:
    """The sentence's distinct term spans, sorted, without surrounding whitespace (one laptop term ends in \\xa0)."""
    spans = set()
    for term in sentence.terms:
        start, end = term.start, term.end
        while start < end and sentence.text[start].isspace():
            start += 1
        while end > start and sentence.text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.add(Span(start, end))
    return sorted(spans)
