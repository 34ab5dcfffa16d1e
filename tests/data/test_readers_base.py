"""What all readers share: the package's public names, `open_text` (compression, byte-order mark, bytes that are
not UTF-8) and `ReaderError`. The helpers `write` and `raises_at` are used by every `test_readers_*` module."""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import sentimentkit.data.readers as readers
from sentimentkit.data.readers import ReaderError, open_text


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def raises_at(path: Path, where: int | str | None) -> Iterator[pytest.ExceptionInfo[ReaderError]]:
    """Expect a ReaderError whose message starts with `path:where: `."""
    with pytest.raises(ReaderError) as info:
        yield info
    prefix = f"{path}:{where}: " if where is not None else f"{path}: "
    assert str(info.value).startswith(prefix), str(info.value)
    assert info.value.line == where


def test_package_exports_every_reader() -> None:
    # The names that `readers.py` had before it became a package, plus `read_labelled_file`.
    names = {
        "ReaderError",
        "open_text",
        "detokenize",
        "read_sst_trees",
        "read_absa_lines",
        "read_semeval_xml",
        "absa_examples",
        "read_corenlp_json",
        "read_conllu",
        "read_tweeteval",
        "read_imdb_csv",
        "read_mosi_labels",
        "read_text_lines",
        "read_texts_csv",
        "read_texts_jsonl",
        "read_labelled_file",
    }
    assert set(readers.__all__) == names
    assert all(callable(getattr(readers, name)) for name in names)


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [("", lambda b: b), (".xz", lzma.compress), (".gz", gzip.compress), (".bz2", bz2.compress)],
)
def test_open_text_decompresses_and_drops_the_bom(tmp_path: Path, suffix: str, compress) -> None:
    path = tmp_path / f"input.txt{suffix}"
    path.write_bytes(compress("\ufeffcafé\nline two\n".encode()))
    with open_text(path) as f:
        assert f.read() == "café\nline two\n"


def test_open_text_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_text(tmp_path / "missing.txt")
    path = tmp_path / "latin1.txt.gz"
    path.write_bytes(gzip.compress(b"fine\ncaf\xe9\n"))
    with raises_at(path, 2) as info, open_text(path) as f:
        f.read()
    assert "byte b'\\xe9' is not UTF-8" in str(info.value)
