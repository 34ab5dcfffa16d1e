"""The plain-torch BERT and tokenizer used at inference must match transformers exactly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from sentimentkit.data.collate import pad_batch
from sentimentkit.data.encoding import encode_texts
from sentimentkit.encoders.bert import FastTokenizer, NativeBert, supports
from sentimentkit.encoders.text import load_backbone, load_tokenizer
from sentimentkit.hub import minilm_dir

TEXTS = [
    "The battery life is great but the screen is dim.",
    "Isn't it (really) über-cool?! 10/10 :)",
    "naïve café — déjà vu… 東京 🙂",
    " ".join(["long"] * 300),
]


def test_fast_tokenizer_gives_the_same_ids_as_autotokenizer():
    hf, fast = load_tokenizer("minilm"), FastTokenizer(minilm_dir())
    for truncation in ("head", "head+tail"):
        assert encode_texts(fast, TEXTS, 128, truncation) == encode_texts(hf, TEXTS, 128, truncation)
    assert (fast.cls_token_id, fast.sep_token_id) == (hf.cls_token_id, hf.sep_token_id)


def test_fast_tokenizer_answers_the_aspect_code_like_autotokenizer():
    hf, fast = load_tokenizer("minilm"), FastTokenizer(minilm_dir())
    text = "The screen's colours (sRGB) aren't great; battery-life is 3\xa01/2 hours."
    for kwargs in ({"add_special_tokens": False, "return_offsets_mapping": True}, {}):
        ours, theirs = fast(text, **kwargs), hf(text, **kwargs)
        assert ours["input_ids"] == theirs["input_ids"]
        if "return_offsets_mapping" in kwargs:
            assert [tuple(x) for x in ours["offset_mapping"]] == [tuple(x) for x in theirs["offset_mapping"]]
    words = [["The", "screen", "'s", "colours"], ["long"] * 300, ["x"]]
    for max_length in (8, 96):
        ours = fast(words, is_split_into_words=True, truncation=True, max_length=max_length)
        theirs = hf(words, is_split_into_words=True, truncation=True, max_length=max_length)
        assert ours["input_ids"] == theirs["input_ids"]
        assert [ours.word_ids(i) for i in range(3)] == [theirs.word_ids(i) for i in range(3)]
    assert (
        fast(["a b", "c"], add_special_tokens=False)["input_ids"]
        == hf(["a b", "c"], add_special_tokens=False)["input_ids"]
    )
    assert len(fast("word " * 50, truncation=False)["input_ids"]) == 52  # truncation is off by default


def test_native_bert_matches_transformers_on_real_tokens():
    assert supports(minilm_dir())
    hf, native = load_backbone("minilm").eval(), load_backbone("minilm", "native")
    assert isinstance(native, NativeBert)
    batch = pad_batch(encode_texts(load_tokenizer("minilm"), TEXTS, 64))
    with torch.inference_mode():
        a = hf(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        b = native(batch.input_ids, batch.attention_mask).last_hidden_state
    real = batch.attention_mask.bool()
    assert torch.allclose(a[real], b[real], atol=1e-4)


def test_native_parameter_names_match_transformers():
    hf, native = load_backbone("minilm"), load_backbone("minilm", "native")
    hf_names = {n for n, _ in hf.named_parameters() if not n.startswith("pooler.")}
    assert {n for n, _ in native.named_parameters()} == hf_names


def test_unsupported_architectures_are_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "roberta"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "tokenizer.json").write_text("{}")
    assert not supports(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert", "hidden_act": "gelu_new"}')
    assert not supports(tmp_path)


def test_shipped_model_starts_without_importing_transformers():
    code = (
        "import sys, sentimentkit; p = sentimentkit.load('sentiment-en'); p('fine');"
        "print('transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_native_and_transformers_pipelines_agree():
    import sentimentkit
    from sentimentkit.models.base import Runtime

    native = sentimentkit.load("sentiment-en", backend="torch")
    reference = sentimentkit.load("sentiment-en", runtime=Runtime("transformers"))
    assert isinstance(native.model.encoder.model, NativeBert)
    assert not isinstance(reference.model.encoder.model, NativeBert)
    assert type(reference.task.tokenizer) is not FastTokenizer
    for a, b in zip(native(TEXTS), reference(TEXTS), strict=True):
        assert a.label == b.label
        assert a.score == pytest.approx(b.score, abs=1e-4)
