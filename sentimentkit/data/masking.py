"""Masking for encoder pretraining: SKESL's sentiment-word masking and BERT's masked-language-model masking.

Sentiment-word masking (SKESL, Findings of ACL 2023; `../shared/MULTIMODAL.md` section 4.1). The word of a sentence
with the largest absolute lexicon valence is masked, every occurrence of it, and the model regresses its valence,
rescaled to [-3, 3] (VADER's [-4, 4] times 0.75, rounded to 3 decimals as the reference does), from the output at
the word's first occurrence. A sentence without a lexicon word gets one random position masked and the label 0; that
position is drawn anew each time the sentence is read in training (`collate_intensity`), and once, from a seed, for
validation items so that the held-out score is a fixed function of the model.

Where this differs from the reference code, and why:
- The reference looks up WordPiece tokens, so a lexicon word that the tokenizer splits into pieces is never a
  candidate, nor is an entry the basic tokenizer splits at punctuation (`:)`, `can't`). Here a candidate is any run
  of up to `max_words` adjacent words whose text (lower-cased, whitespace collapsed) is a lexicon entry; all of its
  pieces are masked and the output at its first piece is read (`match="wordpiece"` keeps the reference rule).
- The reference re-tokenises the masked string and keeps the attention mask of the unmasked text; here the ids are
  masked in place, so ids, mask and position always agree.
- A masked word beyond the window is brought into it by cutting the token sequence around it (the reference cuts
  to [index-20, index+19) at its 39-token window); here the cut keeps the word in the middle of any window size.

Masked-language-model masking (BERT): 15 % of the content tokens (at least one), of which 80 % become [MASK], 10 % a
random token and 10 % stay; redrawn at every read in training (dynamic masking), fixed by a seed for validation.
This is the control arm: the same text and steps without sentiment knowledge.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .encoding import Tokenizer
from .lexicon import Lexicon

MATCHES = ("word", "wordpiece")
TARGET_SCALE = 3.0  # labels are on MOSI's [-3, 3] scale
NO_POSITION = -1  # drawn at collate time (training) instead of fixed at encoding
MLM_RATE = 0.15
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, eq=False)
class IntensityItem:
    """One encoded sentence for sentiment-word pretraining: token ids (with [CLS] and [SEP]) where the chosen word is
    already masked; `position` is the token whose output regresses `label` (NO_POSITION: a sentence without a lexicon
    word, whose position is drawn when it is read); `word` is the masked lexicon entry (None for the fallback)."""

    input_ids: tuple[int, ...]
    position: int
    label: float
    word: str | None = None
    cut: bool = False


@dataclass(frozen=True, eq=False)
class MlmItem:
    """One encoded sentence for masked-language modelling: the original ids (with [CLS] and [SEP]) and, for
    validation, the fixed masked positions and their replacement ids (empty: drawn when the sentence is read)."""

    input_ids: tuple[int, ...]
    positions: tuple[int, ...] = ()
    replaced: tuple[int, ...] = ()  # the id put at each position ([MASK], a random token, or the token itself)


@dataclass
class MaskingStats:
    """What masking found: sentences read, those with a lexicon word, those without (random fallback), and those
    whose token sequence was cut around the masked word to fit the window. `words` counts the masked entries."""

    sentences: int = 0
    with_word: int = 0
    without_word: int = 0
    cut_to_fit: int = 0
    words: dict[str, int] = field(default_factory=dict)

    def as_dict(self, top: int = 20) -> dict[str, object]:
        frequent = sorted(self.words.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return {
            "sentences": self.sentences,
            "with_lexicon_word": self.with_word,
            "without_lexicon_word": self.without_word,
            "share_without": round(self.without_word / self.sentences, 4) if self.sentences else 0.0,
            "cut_to_fit": self.cut_to_fit,
            "distinct_words": len(self.words),
            "most_masked": dict(frequent),
        }


class SentimentWordMasker:
    """Masks each sentence's strongest lexicon word. `max_length`: the window with [CLS] and [SEP]."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        lexicon: Lexicon,
        max_length: int = 39,
        match: str = "word",
        max_words: int = 3,
    ) -> None:
        if match not in MATCHES:
            raise ValueError(f"match {match!r}: expected one of {MATCHES}")
        if max_length < 4:
            raise ValueError(f"max_length must be at least 4, got {max_length}")
        if max_words < 1:
            raise ValueError(f"max_words must be at least 1, got {max_words}")
        self.tokenizer, self.lexicon, self.max_length, self.match = tokenizer, lexicon, max_length, match
        self.max_words = min(max_words, max((k.count(" ") + 1 for k in lexicon.scores), default=1))
        self.scale = TARGET_SCALE / max(abs(lexicon.scale[0]), abs(lexicon.scale[1]))
        self.stats = MaskingStats()

    def encode(self, texts: Sequence[str]) -> list[IntensityItem]:
        """One item per text; blank texts are refused (ValueError naming the index)."""
        blank = next((i for i, t in enumerate(texts) if not t.strip()), None)
        if blank is not None:
            raise ValueError(f"text {blank} is blank: pretraining sentences must hold words")
        if not texts:
            return []
        enc = self.tokenizer(
            list(texts), add_special_tokens=False, truncation=False, return_offsets_mapping=self.match == "word"
        )
        return [self._one(text, enc, i) for i, text in enumerate(texts)]

    def _one(self, text: str, enc: object, i: int) -> IntensityItem:
        ids: list[int] = list(enc["input_ids"][i])  # type: ignore[index]
        spans = self._word_spans(text, enc, i) if self.match == "word" else self._piece_spans(ids)
        self.stats.sentences += 1
        budget = self.max_length - 2
        if not spans:
            self.stats.without_word += 1
            cut = len(ids) > budget
            return IntensityItem(self._wrap(ids[:budget]), NO_POSITION, 0.0, None, cut)
        # the strongest entry; ties go to the first occurrence in the sentence
        key, score = max(((k, s) for k, s, _ in spans), key=lambda ks: abs(ks[1]))
        occurrences = [piece_range for k, _, piece_range in spans if k == key]
        first = occurrences[0][0]
        masked = list(ids)
        for a, b in occurrences:
            masked[a:b] = [self.tokenizer.mask_token_id] * (b - a)
        start = 0
        if len(masked) > budget:
            start = min(max(0, first - budget // 2), len(masked) - budget)
            masked = masked[start : start + budget]
        cut = start > 0 or len(ids) > budget
        self.stats.with_word += 1
        self.stats.cut_to_fit += int(start > 0)
        self.stats.words[key] = self.stats.words.get(key, 0) + 1
        label = round(score * self.scale, 3)
        return IntensityItem(self._wrap(masked), first - start + 1, label, key, cut)

    def _wrap(self, ids: list[int]) -> tuple[int, ...]:
        return (self.tokenizer.cls_token_id, *ids, self.tokenizer.sep_token_id)

    def _word_spans(self, text: str, enc: object, i: int) -> list[tuple[str, float, tuple[int, int]]]:
        """(entry, score, (first piece, end piece)) for every run of up to max_words words that is a lexicon entry.
        Runs are tried longest first at each word, and a word inside a matched run does not start another."""
        word_ids = enc.word_ids(i)  # type: ignore[attr-defined]
        offsets = enc["offset_mapping"][i]  # type: ignore[index]
        words: list[tuple[int, int, int, int]] = []  # (char start, char end, first piece, end piece)
        for p, w in enumerate(word_ids):
            if w is None:
                continue
            if words and len(words) - 1 == w:  # another piece of the current word
                a, _, first, _ = words[-1]
                words[-1] = (a, offsets[p][1], first, p + 1)
            else:
                words.append((offsets[p][0], offsets[p][1], p, p + 1))
        found, k = [], 0
        while k < len(words):
            for n in range(min(self.max_words, len(words) - k), 0, -1):
                a, b = words[k][0], words[k + n - 1][1]
                key = _SPACE.sub(" ", text[a:b].strip().lower())
                score = self.lexicon.scores.get(key)
                if score is not None and score != 0.0:
                    found.append((key, score, (words[k][2], words[k + n - 1][3])))
                    k += n
                    break
            else:
                k += 1
        return found

    def _piece_spans(self, ids: list[int]) -> list[tuple[str, float, tuple[int, int]]]:
        """The reference rule: single WordPiece tokens that are lexicon entries (no ## pieces, no multi-token)."""
        found = []
        for p, token in enumerate(self.tokenizer.convert_ids_to_tokens(ids)):
            score = self.lexicon.scores.get(token.lower())
            if score is not None and score != 0.0 and not token.startswith("##"):
                found.append((token.lower(), score, (p, p + 1)))
        return found


def fallback_position(length: int, rng: np.random.Generator, max_length: int) -> int:
    """A random content position (1 .. n) of an item of `length` ids (with [CLS] and [SEP]); the reference draws
    uniformly over the first 37 tokens of its window, here over every content token of ours."""
    content = max(1, min(length - 2, max_length - 2))
    return 1 + int(rng.integers(0, content))


def with_fallback(item: IntensityItem, position: int, mask_id: int) -> IntensityItem:
    """The item with its random position masked (for items without a lexicon word)."""
    ids = list(item.input_ids)
    ids[position] = mask_id
    return IntensityItem(tuple(ids), position, item.label, item.word, item.cut)


def fix_fallbacks(items: Sequence[IntensityItem], seed: int, mask_id: int, max_length: int) -> list[IntensityItem]:
    """Validation items: the fallback positions drawn once from `seed`, so the held-out score is deterministic."""
    rng = np.random.default_rng(seed)
    return [
        with_fallback(x, fallback_position(len(x.input_ids), rng, max_length), mask_id)
        if x.position == NO_POSITION
        else x
        for x in items
    ]


def mlm_positions(
    ids: Sequence[int],
    rng: np.random.Generator,
    vocab_size: int,
    mask_id: int,
    special: frozenset[int],
    rate: float = MLM_RATE,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """BERT's masking of one sequence: (positions, the id put at each). At least one content token is chosen."""
    content = [p for p, t in enumerate(ids) if t not in special]
    if not content:
        return (), ()
    k = max(1, round(rate * len(content)))
    chosen = sorted(rng.choice(content, size=min(k, len(content)), replace=False).tolist())
    replaced = []
    for p in chosen:
        u = rng.random()
        replaced.append(mask_id if u < 0.8 else int(rng.integers(0, vocab_size)) if u < 0.9 else int(ids[p]))
    return tuple(chosen), tuple(replaced)


# --- batches ---------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class MaskedBatch:
    """A pretraining batch. input_ids, attention_mask: (B, T) (right-padded, masks applied). Sentiment words:
    positions (B, 1), labels (B,) float. MLM: positions (B, K) with -1 on padding, labels (B, K) original ids (-100
    on padding). labels is None for a forward pass without targets."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    positions: torch.Tensor
    labels: torch.Tensor | None = None

    def to(self, device: str | torch.device) -> MaskedBatch:
        return MaskedBatch(
            input_ids=self.input_ids.to(device),
            attention_mask=self.attention_mask.to(device),
            positions=self.positions.to(device),
            labels=None if self.labels is None else self.labels.to(device),
        )

    def without_labels(self) -> MaskedBatch:
        return MaskedBatch(input_ids=self.input_ids, attention_mask=self.attention_mask, positions=self.positions)


def _draw_rng() -> np.random.Generator:
    """A numpy generator seeded from torch's RNG, whose state the trainer checkpoints: draws resume exactly."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))


def _padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def collate_intensity(items: Sequence[IntensityItem], mask_id: int, max_length: int, pad_id: int = 0) -> MaskedBatch:
    """Sentiment-word items -> a MaskedBatch; fallback items get a random position masked (drawn now)."""
    rng = _draw_rng() if any(x.position == NO_POSITION for x in items) else None
    ready = [
        with_fallback(x, fallback_position(len(x.input_ids), rng, max_length), mask_id)
        if x.position == NO_POSITION and rng is not None
        else x
        for x in items
    ]
    ids, mask = _padded([x.input_ids for x in ready], pad_id)
    positions = torch.tensor([[x.position] for x in ready], dtype=torch.long)
    labels = torch.tensor([x.label for x in ready], dtype=torch.float32)
    return MaskedBatch(input_ids=ids, attention_mask=mask, positions=positions, labels=labels)


def collate_mlm(
    items: Sequence[MlmItem], mask_id: int, vocab_size: int, special: frozenset[int], pad_id: int = 0
) -> MaskedBatch:
    """MLM items -> a MaskedBatch; items without fixed positions get theirs drawn now (dynamic masking)."""
    rng = _draw_rng() if any(not x.positions for x in items) else None
    rows, picks = [], []
    for x in items:
        positions, replaced = x.positions, x.replaced
        if not positions and rng is not None:
            positions, replaced = mlm_positions(x.input_ids, rng, vocab_size, mask_id, special)
        ids = list(x.input_ids)
        for p, r in zip(positions, replaced, strict=True):
            ids[p] = r
        rows.append(ids)
        picks.append([(p, x.input_ids[p]) for p in positions])
    ids, mask = _padded(rows, pad_id)
    k = max(1, max(len(p) for p in picks))
    positions = torch.full((len(items), k), -1, dtype=torch.long)
    labels = torch.full((len(items), k), -100, dtype=torch.long)
    for i, chosen in enumerate(picks):
        for j, (p, original) in enumerate(chosen):
            positions[i, j], labels[i, j] = p, original
    return MaskedBatch(input_ids=ids, attention_mask=mask, positions=positions, labels=labels)


def fix_mlm(
    items: Sequence[MlmItem], seed: int, vocab_size: int, mask_id: int, special: frozenset[int]
) -> list[MlmItem]:
    """Validation items with their masked positions drawn once from `seed`."""
    rng = np.random.default_rng(seed)
    return [MlmItem(x.input_ids, *mlm_positions(x.input_ids, rng, vocab_size, mask_id, special)) for x in items]
