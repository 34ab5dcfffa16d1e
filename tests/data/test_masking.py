"""Pretraining masks: SKESL's sentiment-word masking (strongest word, every occurrence, rescaled label, random fallback
drawn per read, split and multi-word entries, cutting around the word) and BERT's MLM masking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentimentkit.data.lexicon import Lexicon
from sentimentkit.data.masking import (
    NO_POSITION,
    MlmItem,
    SentimentWordMasker,
    collate_intensity,
    collate_mlm,
    fix_fallbacks,
    fix_mlm,
    mlm_positions,
)
from sentimentkit.encoders.text import load_tokenizer

LEXICON = Lexicon(
    "test",
    {"good": 1.9, "bad": -2.5, "awful": -2.5, "unwatchable": -3.2, "kind of": 0.4, ":)": 2.0, "neutralish": 0.0},
    (-4.0, 4.0),
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def _tokens(tokenizer, item) -> list[str]:
    return tokenizer.convert_ids_to_tokens(list(item.input_ids))


def test_the_strongest_word_is_masked_everywhere_and_its_valence_rescaled(tokenizer):
    masker = SentimentWordMasker(tokenizer, LEXICON, max_length=39)
    (item,) = masker.encode(["good actors , bad plot , bad ending"])
    tokens = _tokens(tokenizer, item)
    assert tokens.count("[MASK]") == 2 and "bad" not in tokens and "good" in tokens
    assert tokens[item.position] == "[MASK]" and tokens.index("[MASK]") == item.position  # the first occurrence
    assert item.label == round(-2.5 * 0.75, 3) and item.word == "bad"
    # a tie in |valence| goes to the word that comes first
    (tie,) = masker.encode(["awful and bad"])
    assert tie.word == "awful" and _tokens(tokenizer, tie)[1:4] == ["[MASK]", "and", "bad"]


def test_split_words_multi_word_entries_and_emoticons_match_in_word_mode_only(tokenizer):
    assert len(tokenizer.tokenize("unwatchable")) > 1  # the reference rule can never pick it
    words = SentimentWordMasker(tokenizer, LEXICON, max_length=39, match="word")
    pieces = SentimentWordMasker(tokenizer, LEXICON, max_length=39, match="wordpiece")
    (item,) = words.encode(["a good but unwatchable film"])
    assert item.word == "unwatchable" and item.label == round(-3.2 * 0.75, 3)
    masked = _tokens(tokenizer, item)
    assert masked.count("[MASK]") == len(tokenizer.tokenize("unwatchable")) and item.position == 4
    (ref,) = pieces.encode(["a good but unwatchable film"])
    assert ref.word == "good"
    (multi,) = words.encode(["it was kind of fine"])
    assert multi.word == "kind of" and _tokens(tokenizer, multi).count("[MASK]") == 2
    (smiley,) = words.encode(["see you there :)"])
    assert smiley.word == ":)" and smiley.label == 1.5
    # an entry with valence 0 is no sentiment word
    (zero,) = words.encode(["neutralish remarks only"])
    assert zero.position == NO_POSITION


def test_a_sentence_without_a_lexicon_word_gets_a_fresh_random_mask_each_read(tokenizer):
    masker = SentimentWordMasker(tokenizer, LEXICON, max_length=39)
    items = masker.encode(["the table is wooden and long"] * 8)
    assert all(x.position == NO_POSITION and x.label == 0.0 and x.word is None for x in items)
    assert masker.stats.without_word == 8 and masker.stats.with_word == 0
    torch.manual_seed(0)
    first = collate_intensity(items, tokenizer.mask_token_id, 39)
    second = collate_intensity(items, tokenizer.mask_token_id, 39)
    n = len(items[0].input_ids)
    for batch in (first, second):
        positions = batch.positions[:, 0]
        assert ((positions >= 1) & (positions <= n - 2)).all()  # never [CLS] or [SEP]
        assert (batch.input_ids[torch.arange(8), positions] == tokenizer.mask_token_id).all()
        assert (batch.input_ids == tokenizer.mask_token_id).sum() == 8
    assert not torch.equal(first.positions, second.positions)  # drawn anew when read again
    # held-out items are fixed once from a seed, the same every time
    a = fix_fallbacks(items, 7, tokenizer.mask_token_id, 39)
    b = fix_fallbacks(items, 7, tokenizer.mask_token_id, 39)
    assert [x.position for x in a] == [x.position for x in b] and NO_POSITION not in [x.position for x in a]
    again = collate_intensity(a, tokenizer.mask_token_id, 39)
    assert again.positions[:, 0].tolist() == [x.position for x in a]


def test_a_word_beyond_the_window_is_kept_by_cutting_around_it(tokenizer):
    masker = SentimentWordMasker(tokenizer, LEXICON, max_length=16)
    text = " ".join(["plain"] * 30) + " awful " + " ".join(["plain"] * 30)
    (item,) = masker.encode([text])
    assert len(item.input_ids) == 16 and item.cut
    assert _tokens(tokenizer, item)[item.position] == "[MASK]" and item.word == "awful"
    assert masker.stats.cut_to_fit == 1
    with pytest.raises(ValueError, match="blank"):
        masker.encode(["fine", "  "])


def test_mlm_masks_content_tokens_only_and_keeps_targets_aligned(tokenizer):
    ids = tokenizer("one two three four five six seven eight nine ten")["input_ids"]
    special = frozenset(tokenizer.all_special_ids)
    rng = np.random.default_rng(0)
    positions, replaced = mlm_positions(ids, rng, len(tokenizer), tokenizer.mask_token_id, special)
    assert len(positions) == round(0.15 * (len(ids) - 2)) and all(0 < p < len(ids) - 1 for p in positions)
    assert len(replaced) == len(positions)
    many = [mlm_positions(ids, rng, len(tokenizer), tokenizer.mask_token_id, special)[1] for _ in range(400)]
    share_mask = np.mean([r == tokenizer.mask_token_id for row in many for r in row])
    assert 0.7 < share_mask < 0.9  # 80 % [MASK]
    items = [MlmItem(tuple(ids)), MlmItem(tuple(ids[:5]))]
    torch.manual_seed(1)
    batch = collate_mlm(items, tokenizer.mask_token_id, len(tokenizer), special)
    for row, item in enumerate(items):
        for j in range(batch.positions.shape[1]):
            p = int(batch.positions[row, j])
            if p < 0:
                assert batch.labels[row, j] == -100
            else:
                assert batch.labels[row, j] == item.input_ids[p]
    fixed = fix_mlm(items, 3, len(tokenizer), tokenizer.mask_token_id, special)
    again = fix_mlm(items, 3, len(tokenizer), tokenizer.mask_token_id, special)[0]
    assert fixed[0].positions and (again.positions, again.replaced) == (fixed[0].positions, fixed[0].replaced)
    assert collate_mlm(fixed, tokenizer.mask_token_id, len(tokenizer), special).positions[0, 0] == fixed[0].positions[0]
