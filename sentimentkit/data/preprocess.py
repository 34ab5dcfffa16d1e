"""The one text rewrite that training and inference share before tokenizing: emoji become words.

MiniLM's vocabulary has no emoji, so each one is [UNK] and "I love it 😀" reads exactly as "I love it 😡". With
`emoji="words"` (the default) every emoji becomes its Unicode name in parentheses, taken from the `emoji`
library's data: "I love it 😀" -> "I love it (grinning face)", "👍🏽" -> "(thumbs up medium skin tone)".
"keep" leaves the text as it is (what models trained before this setting saw).

A `Rewrite` keeps the map between character offsets of the original and the rewritten text, so that aspect spans
can be carried into the rewritten text and token offsets back out of it (a token of "(grinning face)" maps to
the emoji's whole span). The rewrite is idempotent: rewritten text has no emoji left to rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import Span

EMOJI_MODES = ("words", "keep")
DEFAULT_EMOJI = "words"


@dataclass(frozen=True)
class Edit:
    """One emoji replaced: source[old_start:old_end] became text[new_start:new_end], which is the name in
    parentheses (text[core_start:core_end]) with a space added before or after where a word touched it."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int
    core_start: int
    core_end: int


@dataclass(frozen=True)
class Rewrite:
    """A text and its rewrite, with the edits between them (in order, not overlapping)."""

    source: str
    text: str
    edits: tuple[Edit, ...] = ()

    def new_offset(self, i: int, end: bool = False) -> int:
        """Where offset `i` of the source lies in the rewritten text. An offset inside an emoji goes to the start of
        its words (or, with `end`, to their end); the start (end) of a span stays off the added spaces."""
        shift = 0
        for e in self.edits:
            if i < e.old_start or (i == e.old_start and end):
                return i + shift
            if i < e.old_end or (i == e.old_end and end):
                return e.core_end if end else e.core_start
            shift = e.new_end - e.old_end
        return i + shift

    def old_offset(self, j: int, end: bool = False) -> int:
        """Where offset `j` of the rewritten text lies in the source: an offset in an emoji's words (or its added
        spaces) goes to the emoji's start or end, so a token of the words maps to the whole emoji."""
        shift = 0
        for e in self.edits:
            if j < e.new_start or (j == e.new_start and end):
                return j - shift
            if j < e.new_end or (j == e.new_end and end):
                if end:
                    return e.old_end if j > e.core_start else e.old_start
                return e.old_start if j < e.core_end else e.old_end
            shift = e.new_end - e.old_end
        return j - shift

    def new_span(self, span: tuple[int, int]) -> Span:
        return Span(self.new_offset(span[0]), self.new_offset(span[1], end=True))

    def old_span(self, span: tuple[int, int]) -> Span:
        return Span(self.old_offset(span[0]), self.old_offset(span[1], end=True))


def check_emoji_mode(mode: str) -> str:
    if mode not in EMOJI_MODES:
        raise ValueError(f"emoji {mode!r}: expected one of {EMOJI_MODES}")
    return mode


def rewrite(text: str, emoji: str = DEFAULT_EMOJI) -> Rewrite:
    """The text as models read it (see the module docstring). ASCII text is returned as it is, without a look at
    the emoji tables (and without importing them)."""
    check_emoji_mode(emoji)
    if emoji == "keep" or text.isascii():
        return Rewrite(text, text)
    import emoji as emoji_data  # imported on the first non-ASCII text: its tables take a moment to load

    found = emoji_data.emoji_list(text)
    if not found:
        return Rewrite(text, text)
    parts: list[str] = []
    edits: list[Edit] = []
    cursor, length = 0, 0  # position in the source; length of the rewritten text so far
    for match in found:
        a, b = match["match_start"], match["match_end"]
        kept = text[cursor:a]
        parts.append(kept)
        length += len(kept)
        new_start = length
        before = " " if length and not _ends_with_space(parts) else ""
        core = f"({emoji_name(match['emoji'])})"
        after = " " if b < len(text) and not text[b].isspace() else ""
        parts.append(before + core + after)
        core_start = new_start + len(before)
        length += len(before) + len(core) + len(after)
        edits.append(Edit(a, b, new_start, length, core_start, core_start + len(core)))
        cursor = b
    parts.append(text[cursor:])
    return Rewrite(text, "".join(parts), tuple(edits))


def emoji_words(text: str) -> str:
    """`rewrite(text).text`: every emoji of `text` as its name in parentheses."""
    return rewrite(text).text


def emoji_name(symbol: str) -> str:
    """The words of one emoji ("👍🏽" -> "thumbs up medium skin tone")."""
    import emoji as emoji_data

    name = emoji_data.demojize(symbol, delimiters=("", ""))
    return " ".join(name.replace("_", " ").replace(":", " ").split())


def _ends_with_space(parts: list[str]) -> bool:
    last = next((p for p in reversed(parts) if p), "")
    return last[-1:].isspace()
