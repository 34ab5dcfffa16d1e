"""Readers: one per source format. Each yields frozen dataclasses from `sentimentkit.types`.

A malformed file raises `ReaderError` naming the file, the line (or record) and what was expected.
Compressed files (`.xz`, `.gz`, `.bz2`) are read transparently.

Modules by concern: `base` (ReaderError, open_text, CSV and JSON Lines records), `sst`, `absa` (3-line,
SemEval XML, CoreNLP JSON), `conllu`, `text` (TweetEval, IMDb, MOSI) and `user` (the user's own files).
"""

from .absa import absa_examples, read_absa_lines, read_corenlp_json, read_semeval_xml
from .base import ReaderError, open_text
from .conllu import read_conllu
from .sst import detokenize, read_sst_trees
from .text import read_imdb_csv, read_mosi_labels, read_tweeteval
from .user import read_labelled_file, read_text_lines, read_texts_csv, read_texts_jsonl

__all__ = [
    "ReaderError",
    "absa_examples",
    "detokenize",
    "open_text",
    "read_absa_lines",
    "read_conllu",
    "read_corenlp_json",
    "read_imdb_csv",
    "read_labelled_file",
    "read_mosi_labels",
    "read_semeval_xml",
    "read_sst_trees",
    "read_text_lines",
    "read_texts_csv",
    "read_texts_jsonl",
    "read_tweeteval",
]
