from __future__ import annotations

import pytest

from sentimentkit.data.collate import Encoded, encode_texts, pad_batch
from sentimentkit.encoders.text import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def test_head_truncation_keeps_the_start(tokenizer):
    text = " ".join(f"w{i}" for i in range(100))
    (ids,) = encode_texts(tokenizer, [text], max_length=10)
    assert len(ids) == 10
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    full = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[1:-1] == full[:8]


def test_head_plus_tail_keeps_both_ends(tokenizer):
    text = " ".join(["good"] * 50 + ["terrible"] * 50)
    (ids,) = encode_texts(tokenizer, [text], max_length=18, truncation="head+tail")
    body = ids[1:-1]
    good, terrible = tokenizer.convert_tokens_to_ids(["good", "terrible"])
    assert body == [good] * 4 + [terrible] * 12


def test_short_text_is_not_cut_and_bad_settings_fail(tokenizer):
    (ids,) = encode_texts(tokenizer, ["fine"], max_length=64)
    assert len(ids) == 3
    with pytest.raises(ValueError, match="truncation"):
        encode_texts(tokenizer, ["x"], 64, truncation="middle")


def test_pad_batch_pads_to_the_longest():
    batch = pad_batch([Encoded([101, 5, 102], 1), Encoded([101, 102], 0)])
    assert batch["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [1, 0]
