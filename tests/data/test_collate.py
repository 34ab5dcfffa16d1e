from __future__ import annotations

import pytest

from sentimentkit.data.collate import TextBatch, pad_batch
from sentimentkit.data.encoding import TextItem, encode_texts
from sentimentkit.encoders.text import load_tokenizer
from sentimentkit.labels import IGNORE_INDEX


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def test_head_truncation_keeps_the_start(tokenizer):
    text = " ".join(f"w{i}" for i in range(100))
    (item,) = encode_texts(tokenizer, [text], max_length=10)
    ids = item.input_ids
    assert len(ids) == 10 and item.truncated
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    full = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert list(ids[1:-1]) == full[:8]
    assert item.label == IGNORE_INDEX  # the task sets targets, not the encoder


def test_head_plus_tail_keeps_both_ends(tokenizer):
    text = " ".join(["good"] * 50 + ["terrible"] * 50)
    (item,) = encode_texts(tokenizer, [text], max_length=18, truncation="head+tail")
    body = list(item.input_ids[1:-1])
    good, terrible = tokenizer.convert_tokens_to_ids(["good", "terrible"])
    assert body == [good] * 4 + [terrible] * 12
    assert item.truncated


def test_short_text_is_not_cut_and_bad_settings_fail(tokenizer):
    (item,) = encode_texts(tokenizer, ["fine"], max_length=64)
    assert len(item.input_ids) == 3 and not item.truncated
    with pytest.raises(ValueError, match="truncation"):
        encode_texts(tokenizer, ["x"], 64, truncation="middle")


def test_pad_batch_pads_to_the_longest():
    batch = pad_batch([TextItem((101, 5, 102), 1), TextItem((101, 102), 0)])
    assert isinstance(batch, TextBatch) and len(batch) == 2
    assert batch.input_ids.tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch.labels.tolist() == [1, 0]


def test_pad_batch_without_targets_has_no_labels():
    batch = pad_batch([TextItem((101, 5, 102)), TextItem((101, 102))])
    assert batch.labels is None
    assert batch.input_ids.tolist() == [[101, 5, 102], [101, 102, 0]]
    labelled = pad_batch([TextItem((101, 102), 1)])
    assert labelled.without_labels().labels is None and labelled.labels.tolist() == [1]
