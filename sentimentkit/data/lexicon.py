"""Sentiment lexicons, read at run time from a path the user gives.

Several lexicons may not be redistributed (SO-CAL is CC BY-NC-SA, NRC-VAD non-commercial), so the package
only reads them and never ships a copy.

Every reader returns a `Lexicon` whose keys are lower-cased, with a space between the words of a multi-word
entry. Where a lexicon lists a word more than once (under several parts of speech or senses), the word gets
the mean of its scores unless the reader's docstring says otherwise.

A bad line raises a ReaderError naming the file and line. With `strict=False` the readers of a `Lexicon`
skip bad lines instead and keep each one's error message ("file:line: reason") in `Lexicon.rejected`, so the
caller can report them; nothing is skipped without being recorded there.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .readers import ReaderError, open_text


@dataclass(frozen=True)
class Lexicon:
    """Word scores on the lexicon's own scale `(low, high)`. Lookups are case-insensitive.

    `rejected` holds the error messages ("file:line: reason") of the lines a non-strict reader skipped.
    """

    name: str
    scores: dict[str, float]
    scale: tuple[float, float]
    rejected: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        low, high = self.scale
        if not low < high:
            raise ValueError(f"Lexicon {self.name!r}: scale {self.scale} must be (low, high) with low < high")
        for word, score in self.scores.items():
            if word != word.lower():
                raise ValueError(f"Lexicon {self.name!r}: key {word!r} must be lower-case")
            if not low <= score <= high:
                raise ValueError(f"Lexicon {self.name!r}: {word!r} scores {score}, outside {self.scale}")

    def get(self, word: str, default: float | None = None) -> float | None:
        """The score of `word` (any case), or `default` when the lexicon does not list it."""
        return self.scores.get(word.lower(), default)

    def __len__(self) -> int:
        return len(self.scores)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self.scores


def _lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, line without its newline) for the non-blank lines of a text file."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield lineno, line.rstrip("\n")


_Line = TypeVar("_Line")
_Entry = TypeVar("_Entry")


def _parsed(
    path: str | Path,
    lines: Iterable[tuple[int, _Line]],
    parse: Callable[[str | Path, int, _Line], _Entry],
    strict: bool,
    rejected: list[str],
) -> Iterator[_Entry]:
    """Yield `parse(path, line number, line)` for each line. A line that raises ReaderError stops the reader
    when `strict`; otherwise it is skipped and its message appended to `rejected`."""
    for lineno, line in lines:
        try:
            entry = parse(path, lineno, line)
        except ReaderError as e:
            if strict:
                raise
            rejected.append(str(e))
            continue
        yield entry


def _number(text: str, path: str | Path, lineno: int, what: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ReaderError(path, lineno, f"{what} {text!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ReaderError(path, lineno, f"{what} {text!r} is outside {low}..{high}")
    return value


def _means(entries: dict[str, list[float]]) -> dict[str, float]:
    return {word: sum(values) / len(values) for word, values in entries.items()}


# --- VADER -------------------------------------------------------------------------------------------


def read_vader(path: str | Path, strict: bool = True) -> Lexicon:
    """Read the VADER lexicon: `token<TAB>mean<TAB>std<TAB>ratings`, mean valence in -4..4.

    Where entries collide after lower-casing, the value that vaderSentiment finds wins (it lower-cases the
    token before the lookup): an entry written in lower case beats one that is not (`:p` 1.0 over `:P` 1.4),
    and a repeated key keeps its last value (`lol` 2.9 then 1.8 -> 1.8). The emoji file maps emoji to
    descriptions, not scores: read it with `read_vader_emoji`. `strict=False` skips bad lines into `rejected`.
    """
    scores: dict[str, float] = {}
    lower_case: set[str] = set()  # keys written in lower case in the file
    rejected: list[str] = []
    for token, mean in _parsed(path, _lines(path), _vader_entry, strict, rejected):
        key = token.lower()
        if token == key:
            scores[key] = mean
            lower_case.add(key)
        elif key not in lower_case:
            scores[key] = mean
    return Lexicon("vader", scores, (-4.0, 4.0), tuple(rejected))


def _vader_entry(path: str | Path, lineno: int, line: str) -> tuple[str, float]:
    fields = line.split("\t")
    if len(fields) != 4:
        hint = " (the emoji lexicon has 2: use read_vader_emoji)" if len(fields) == 2 else ""
        raise ReaderError(path, lineno, f"{len(fields)} fields; expected token, mean, std, ratings{hint}")
    token, mean = fields[0].strip(), _number(fields[1], path, lineno, "mean valence", -4.0, 4.0)
    if not token:
        raise ReaderError(path, lineno, "empty token")
    return token, mean


def read_vader_emoji(path: str | Path) -> dict[str, str]:
    """Read VADER's `emoji_utf8_lexicon.txt`: emoji -> English description (VADER scores the description)."""
    descriptions: dict[str, str] = {}
    for lineno, line in _lines(path):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or not fields[1].strip():
            raise ReaderError(path, lineno, "expected 'emoji<TAB>description'")
        descriptions[fields[0]] = fields[1].strip()
    return descriptions


# --- NRC valence, arousal, dominance -----------------------------------------------------------------

_VAD = ("valence", "arousal", "dominance")


def read_nrc_vad_full(path: str | Path) -> dict[str, tuple[float, float, float]]:
    """Read NRC-VAD v1: a header, then `word<TAB>valence<TAB>arousal<TAB>dominance`, scores in 0..1."""
    return _nrc_vad_entries(path, strict=True, rejected=[])


def read_nrc_vad(path: str | Path, strict: bool = True) -> Lexicon:
    """Read NRC-VAD v1 as a valence lexicon (0..1); `read_nrc_vad_full` also gives arousal and dominance.

    `strict=False` skips bad lines (a repeated word included) into `rejected`; a wrong header always raises.
    """
    rejected: list[str] = []
    entries = _nrc_vad_entries(path, strict, rejected)
    return Lexicon("nrc-vad", {word: vad[0] for word, vad in entries.items()}, (0.0, 1.0), tuple(rejected))


def _nrc_vad_entries(path: str | Path, strict: bool, rejected: list[str]) -> dict[str, tuple[float, float, float]]:
    lines = _lines(path)
    header = next(lines, None)
    if header is not None:
        lineno, line = header
        if [name.strip().lower() for name in line.split("\t")[1:]] != list(_VAD):
            raise ReaderError(path, lineno, f"header {line!r}; expected Word<TAB>Valence<TAB>Arousal<TAB>Dominance")
    first_seen: dict[str, int] = {}

    def entry(path: str | Path, lineno: int, line: str) -> tuple[str, tuple[float, float, float]]:
        fields = line.split("\t")
        if len(fields) != 4:
            raise ReaderError(path, lineno, f"{len(fields)} fields; expected word, valence, arousal, dominance")
        word = fields[0].strip().lower()
        if word in first_seen:
            raise ReaderError(path, lineno, f"{word!r} is listed again (first at line {first_seen[word]})")
        v, a, d = (_number(text, path, lineno, what, 0.0, 1.0) for text, what in zip(fields[1:], _VAD, strict=True))
        first_seen[word] = lineno  # only once the line is accepted: a rejected line is not a first listing
        return word, (v, a, d)

    return dict(_parsed(path, lines, entry, strict, rejected))


# --- MPQA subjectivity clues -------------------------------------------------------------------------

_MPQA_POLARITY = {"positive": 1.0, "negative": -1.0, "neutral": 0.0, "both": 0.0, "weakpos": 1.0, "weakneg": -1.0}
_MPQA_STRENGTH = {"strongsubj": 1.0, "weaksubj": 0.5}


def read_mpqa(path: str | Path, strict: bool = True) -> Lexicon:
    """Read the MPQA subjectivity clues: `type=strongsubj len=1 word1=... pos1=... priorpolarity=...` lines.

    score = prior polarity (positive +1, negative -1, neutral and both 0) x strength (strongsubj 1.0,
    weaksubj 0.5); a word listed under several parts of speech gets the mean. The distributed file spells one
    polarity `weakneg` (impassive), read as negative. Other keys (pos1, stemmed1, ...) are not used.
    `strict=False` skips bad lines into `rejected`.
    """
    entries: dict[str, list[float]] = defaultdict(list)
    rejected: list[str] = []
    for word, score in _parsed(path, _lines(path), _mpqa_entry, strict, rejected):
        entries[word].append(score)
    return Lexicon("mpqa", _means(entries), (-1.0, 1.0), tuple(rejected))


def _mpqa_entry(path: str | Path, lineno: int, line: str) -> tuple[str, float]:
    fields: dict[str, str] = {}
    for item in line.split():
        key, eq, value = item.partition("=")
        if not eq:
            raise ReaderError(path, lineno, f"{item!r} is not key=value")
        fields[key] = value
    missing = [key for key in ("type", "word1", "priorpolarity") if key not in fields]
    if missing:
        raise ReaderError(path, lineno, f"missing {', '.join(missing)}")
    if fields["type"] not in _MPQA_STRENGTH:
        raise ReaderError(path, lineno, f"type={fields['type']}; expected strongsubj or weaksubj")
    if fields["priorpolarity"] not in _MPQA_POLARITY:
        raise ReaderError(
            path, lineno, f"priorpolarity={fields['priorpolarity']}; expected one of {list(_MPQA_POLARITY)}"
        )
    score = _MPQA_POLARITY[fields["priorpolarity"]] * _MPQA_STRENGTH[fields["type"]]
    return fields["word1"].lower(), score


# --- SO-CAL ------------------------------------------------------------------------------------------

_SOCAL_WORD_CLASSES = ("adj", "adv", "noun", "verb")


def read_socal(path: str | Path, strict: bool = True) -> Lexicon:
    """Read SO-CAL word scores (-5..5): one `word<TAB>score` file, or a folder whose adjective, adverb, noun
    and verb dictionaries (`{adj,adv,noun,verb}_dictionary*.txt`) are merged.

    `_` joins the words of multi-word entries (read as a space). Some entries are SO-CAL patterns with
    wildcards, such as `(#get#)_[INT]?_attention`; they are kept as written and so only match literally.
    A word in several dictionaries gets the mean. `google_dict.txt` (a separate, automatically built
    dictionary) is not merged; intensifiers are read by `read_socal_intensifiers`. `strict=False` skips bad
    lines into `rejected`; a folder without dictionaries always raises.
    """
    files = _socal_files(Path(path), _SOCAL_WORD_CLASSES)
    entries: dict[str, list[float]] = defaultdict(list)
    rejected: list[str] = []
    for file in files:
        for word, score in _parsed(file, _socal_lines(file), _socal_score, strict, rejected):
            entries[word].append(score)
    return Lexicon("socal", _means(entries), (-5.0, 5.0), tuple(rejected))


def _socal_score(path: str | Path, lineno: int, fields: list[str]) -> tuple[str, float]:
    word, score = _socal_entry(path, lineno, fields)
    return word, _number(score, path, lineno, "score", -5.0, 5.0)


def read_socal_intensifiers(path: str | Path) -> dict[str, float]:
    """Read SO-CAL intensifiers (`int_dictionary*.txt`, or the folder holding it): word -> modifier.

    A modifier scales the sentiment it applies to by (1 + modifier): "very" 0.2 is +20%, "barely" -1.5 is
    -150%. A word listed twice gets the mean.
    """
    entries: dict[str, list[float]] = defaultdict(list)
    for file in _socal_files(Path(path), ("int",)):
        for lineno, fields in _socal_lines(file):
            word, modifier = _socal_entry(file, lineno, fields)
            entries[word].append(_number(modifier, file, lineno, "modifier", -math.inf, math.inf))
    return _means(entries)


def _socal_files(path: Path, word_classes: tuple[str, ...]) -> list[Path]:
    if not path.is_dir():
        return [path]
    patterns = [f"{word_class}_dictionary*.txt" for word_class in word_classes]
    files = sorted(file for pattern in patterns for file in path.glob(pattern))
    if not files:
        raise ReaderError(path, None, f"no SO-CAL dictionary ({', '.join(patterns)}) in this folder")
    return files


def _socal_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (line, fields) for the non-blank lines of a SO-CAL dictionary.

    Fields are split on any whitespace, as the distributed files mix tabs, double tabs and spaces. A line
    that is not UTF-8 is decoded as Latin-1 (the adjective list spells `clich\\xe9d` that way).
    """
    with open_text(path, errors="surrogateescape") as f:
        for lineno, line in enumerate(f, 1):
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:
                line = line.encode("utf-8", "surrogateescape").decode("latin-1")
            fields = line.split()
            if fields:
                yield lineno, fields


def _socal_entry(path: str | Path, lineno: int, fields: list[str]) -> tuple[str, str]:
    """(word, score text) from the fields of a SO-CAL line; `_` joins the words of a multi-word entry."""
    if len(fields) != 2:
        raise ReaderError(path, lineno, f"{len(fields)} fields; expected a word and a score")
    return fields[0].replace("_", " ").lower(), fields[1]


# --- SentiWordNet ------------------------------------------------------------------------------------


def read_sentiwordnet(path: str | Path, strict: bool = True) -> Lexicon:
    """Read SentiWordNet 3.0: the reduced TSV (`POS PosScore NegScore SynsetTerms` under a header) or the
    original file (`POS ID PosScore NegScore SynsetTerms Gloss`, with `#` comment lines).

    A synset scores PosScore - NegScore, and a term the mean over all its synsets (any part of speech).
    Terms carry a sense number (`good#2`, dropped) and `_` between words (read as a space).
    `strict=False` skips bad lines into `rejected` (the copy in the shared data folder has one).
    """
    entries: dict[str, list[float]] = defaultdict(list)
    rejected: list[str] = []
    synsets = ((lineno, line) for lineno, line in _lines(path) if not line.startswith(("#", "POS\t")))
    for words, score in _parsed(path, synsets, _sentiwordnet_synset, strict, rejected):
        for word in words:
            entries[word].append(score)
    return Lexicon("sentiwordnet", _means(entries), (-1.0, 1.0), tuple(rejected))


def _sentiwordnet_synset(path: str | Path, lineno: int, line: str) -> tuple[list[str], float]:
    """(words, PosScore - NegScore) of one synset line."""
    fields = line.split("\t")
    if len(fields) == 4:
        _, positive_text, negative_text, terms = fields
    elif len(fields) == 6:
        _, _, positive_text, negative_text, terms, _ = fields
    else:
        raise ReaderError(
            path, lineno, f"{len(fields)} fields; expected POS, PosScore, NegScore, SynsetTerms (+ ID, Gloss)"
        )
    positive = _number(positive_text, path, lineno, "PosScore", 0.0, 1.0)
    negative = _number(negative_text, path, lineno, "NegScore", 0.0, 1.0)
    if positive + negative > 1.0 + 1e-9:
        raise ReaderError(path, lineno, f"PosScore + NegScore = {positive + negative}; it cannot exceed 1")
    words = []
    for term in terms.split():
        word, hash_sign, sense = term.rpartition("#")
        if not (hash_sign and word and sense.isdecimal()):
            raise ReaderError(path, lineno, f"term {term!r}; expected word#sense, such as good#2")
        words.append(word.replace("_", " ").lower())
    return words, positive - negative


_READERS: dict[str, Callable[[str | Path, bool], Lexicon]] = {
    "vader": read_vader,
    "nrc-vad": read_nrc_vad,
    "mpqa": read_mpqa,
    "socal": read_socal,
    "sentiwordnet": read_sentiwordnet,
}


def load_lexicon(name: str, path: str | Path, strict: bool = True) -> Lexicon:
    """Read the lexicon called `name` (vader, nrc-vad, mpqa, socal, sentiwordnet) from the user's `path`.

    A bad line raises ReaderError; with `strict=False` it is skipped and its message kept in `rejected`.
    """
    if name not in _READERS:
        raise ValueError(f"unknown lexicon {name!r}; expected one of {list(_READERS)}")
    return _READERS[name](path, strict)
