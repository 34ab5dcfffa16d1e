"""A word vocabulary built from training texts, for models without a pretrained tokenizer (BiLSTM).

It answers the same call as a Hugging Face tokenizer (`vocab(texts, add_special_tokens=False,
truncation=False)["input_ids"]`, `cls_token_id`, `sep_token_id`), so `encode_texts` serves both kinds.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
FILENAME = "vocab.json"


def words(text: str) -> list[str]:
    """Lower-cased words and single punctuation marks ("Isn't it?" -> ["isn't", "it", "?"])."""
    return _WORD.findall(text.lower())


class WordVocab:
    """Word <-> id. Id 0 is padding, 1 unknown words, 2 and 3 the start and end marks."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("a vocabulary has duplicate tokens")
        # the specials' ids are their places in SPECIALS
        self.pad_token_id, self.unk_token_id, self.cls_token_id, self.sep_token_id = (self.index[t] for t in SPECIALS)

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 2, max_size: int | None = 50_000) -> WordVocab:
        """The words of `texts` seen at least `min_freq` times, most frequent first, at most `max_size`."""
        counts = Counter(w for text in texts for w in words(text))
        kept = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def __call__(self, texts: Sequence[str], add_special_tokens: bool = False, truncation: bool = False) -> dict:
        ids = [[self.index.get(w, self.unk_token_id) for w in words(t)] for t in texts]
        if add_special_tokens:
            ids = [[self.cls_token_id, *x, self.sep_token_id] for x in ids]
        return {"input_ids": ids}

    def save(self, directory: str | Path) -> None:
        Path(directory, FILENAME).write_text(json.dumps(self.tokens, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> WordVocab:
        path = Path(directory, FILENAME)
        tokens = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"{path}: expected a JSON list of token strings")
        return cls(tokens)
