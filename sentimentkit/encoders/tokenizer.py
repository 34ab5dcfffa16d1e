"""A BERT tokenizer through the `tokenizers` library alone: no transformers and no torch.

It serves the native runtime (`encoders/bert.py`, which re-exports it) and exported ONNX model folders, which
carry their tokenizer.json and must load without torch.
"""

from __future__ import annotations

import threading
from pathlib import Path


class FastTokenizer:
    """The backbone's tokenizer.json through `tokenizers` alone (the same ids as AutoTokenizer).

    Covers the calls this project makes of a Hugging Face fast tokenizer: a string or a batch of strings (or,
    with `is_split_into_words`, of word lists), with or without special tokens, `truncation` to `max_length`,
    `return_offsets_mapping`, and `word_ids(i)` on the result.
    """

    is_fast = True
    model_input_names = ("input_ids", "token_type_ids", "attention_mask")

    def __init__(self, model_dir: str | Path) -> None:
        from tokenizers import Tokenizer

        self._lock = threading.Lock()
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir, "tokenizer.json")))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.cls_token_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_token_id = self.tokenizer.token_to_id("[SEP]")
        if self.cls_token_id is None or self.sep_token_id is None:
            raise ValueError(f"{model_dir}/tokenizer.json has no [CLS]/[SEP] tokens; not a BERT tokenizer")

    def __call__(
        self,
        texts: str | list[str] | list[list[str]],
        add_special_tokens: bool = True,
        truncation: bool = False,
        max_length: int | None = None,
        is_split_into_words: bool = False,
        return_offsets_mapping: bool = False,
    ) -> TokenizerOutput:
        single = isinstance(texts, str) or (is_split_into_words and bool(texts) and isinstance(texts[0], str))
        batch = [texts] if single else list(texts)
        with self._lock:  # truncation is tokenizer state: one call at a time sets and clears it
            if truncation and max_length is not None:
                self.tokenizer.enable_truncation(max_length)  # counts the special tokens, as AutoTokenizer does
            try:
                encodings = self.tokenizer.encode_batch(
                    batch, is_pretokenized=is_split_into_words, add_special_tokens=add_special_tokens
                )
            finally:
                self.tokenizer.no_truncation()
        return TokenizerOutput(encodings, single, return_offsets_mapping)


class TokenizerOutput(dict):
    """input_ids (and offset_mapping) of a tokenizer call, with word_ids(i) like a BatchEncoding."""

    def __init__(self, encodings: list, single: bool, offsets: bool) -> None:
        self._encodings = encodings
        ids = [list(e.ids) for e in encodings]
        super().__init__(input_ids=ids[0] if single else ids)
        if offsets:
            spans = [[tuple(o) for o in e.offsets] for e in encodings]
            self["offset_mapping"] = spans[0] if single else spans

    def word_ids(self, index: int = 0) -> list[int | None]:
        return list(self._encodings[index].word_ids)
