"""The user's own files: texts (lines, a CSV column, a JSON Lines field) and labelled examples (CSV or JSON
Lines), well-formed and malformed."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pytest

from sentimentkit.data.readers import (
    read_labelled_file,
    read_text_lines,
    read_texts_csv,
    read_texts_jsonl,
)
from sentimentkit.types import TextExample

from .test_readers_base import raises_at, write


def test_text_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "input.txt", "first text\n\n  second, text  \n")
    assert list(read_text_lines(path)) == [
        TextExample(text="first text", id="1", source=f"{path}:1"),
        TextExample(text="second, text", id="3", source=f"{path}:3"),
    ]


def test_text_lines_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(b"fine\nalso fine\ncaf\xe9 in Latin-1\n")
    with raises_at(path, 3) as info:
        list(read_text_lines(path))
    assert "not UTF-8" in str(info.value)


def test_texts_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "input.csv", '\ufeffid,review\n1,"Good, very good"\n2,"Bad\nreally"\n3,\n')
    assert [(x.text, x.id) for x in read_texts_csv(path, "review")] == [
        ("Good, very good", "2"),
        ("Bad\nreally", "4"),
        ("", "5"),
    ]
    with raises_at(path, 1) as info:
        list(read_texts_csv(path, "text"))
    assert "no column text; the header has ['id', 'review']" in str(info.value)


def test_texts_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path / "input.jsonl", '{"text": "Good", "id": 7}\n\n{"text": "Bad \\u2764"}\n')
    assert list(read_texts_jsonl(path, "text")) == [
        TextExample(text="Good", id="1", source=f"{path}:1"),
        TextExample(text="Bad \u2764", id="3", source=f"{path}:3"),
    ]
    with raises_at(path, 1) as info:
        list(read_texts_jsonl(path, "review"))
    assert "no field 'review'; this object has ['id', 'text']" in str(info.value)


@pytest.mark.parametrize(
    ("line", "problem"),
    [('{"text": "Good",}', "invalid JSON"), ('["Good"]', "expected a JSON object"), ('{"text": 3}', "is int")],
)
def test_texts_jsonl_malformed(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path / "input.jsonl", f'{{"text": "ok"}}\n{line}\n')
    with raises_at(path, 2) as info:
        list(read_texts_jsonl(path, "text"))
    assert problem in str(info.value)


# --- labelled files (CSV or JSON Lines) ----------------------------------------------------------------

LABELLED_CSV = '\ufeffid,text,label,note\n1,"Good, very good",positive,x\n2,"Bad\nreally",negative,\n\n3,Meh,2,\n'
LABELLED_JSONL = (
    '{"text": "Good, very good", "label": "positive", "id": 1}\n'
    '{"text": "Bad\\nreally", "label": "negative"}\n'
    "\n"
    '{"text": "Meh", "label": 2}\n'
)


def test_labelled_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", LABELLED_CSV)
    assert list(read_labelled_file(path)) == [
        TextExample(text="Good, very good", label="positive", id="2", source=f"{path}:2"),
        TextExample(text="Bad\nreally", label="negative", id="4", source=f"{path}:4"),  # the record ends on line 4
        TextExample(text="Meh", label="2", id="6", source=f"{path}:6"),
    ]


def test_labelled_jsonl_gz_and_csv_xz_read_alike(tmp_path: Path) -> None:
    jsonl = tmp_path / "train.JSONL.gz"
    with gzip.open(jsonl, "wt", encoding="utf-8") as f:
        f.write(LABELLED_JSONL)
    assert list(read_labelled_file(jsonl)) == [
        TextExample(text="Good, very good", label="positive", id="1", source=f"{jsonl}:1"),
        TextExample(text="Bad\nreally", label="negative", id="2", source=f"{jsonl}:2"),
        TextExample(text="Meh", label="2", id="4", source=f"{jsonl}:4"),  # the JSON number 2 becomes "2"
    ]
    csv_xz = tmp_path / "train.csv.xz"
    with lzma.open(csv_xz, "wt", encoding="utf-8", newline="") as f:
        f.write(LABELLED_CSV)
    assert [(x.text, x.label) for x in read_labelled_file(csv_xz)] == [
        (x.text, x.label) for x in read_labelled_file(jsonl)
    ]


def test_labelled_file_other_field_names(tmp_path: Path) -> None:
    path = write(tmp_path / "reviews.csv", "review,stars\nLoved it,5\n")
    assert [(x.text, x.label) for x in read_labelled_file(path, text_field="review", label_field="stars")] == [
        ("Loved it", "5")
    ]
    path = write(tmp_path / "reviews.jsonl", '{"review": "Loved it", "stars": 5}\n')
    assert [(x.text, x.label) for x in read_labelled_file(path, text_field="review", label_field="stars")] == [
        ("Loved it", "5")
    ]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("text,sentiment\nGood,positive\n", 1, "no column label; the header has ['text', 'sentiment']"),
        ("id,label\n1,positive\n", 1, "no column text; the header has ['id', 'label']"),
        ("text,label\nGood,positive\nBad,\n", 3, "empty label in field 'label'"),
        ("text,label\nGood,positive\nBad,  \n", 3, "empty label in field 'label'"),
        ("text,label\nGood,positive\nBad\n", 3, "1 fields; the header has 2"),
        ('text,label\nGood,positive\n"Bad,negative\n', 3, "invalid CSV"),
    ],
)
def test_labelled_csv_malformed(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path / "train.csv", text)
    with raises_at(path, line) as info:
        list(read_labelled_file(path))
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"text": "Bad"}', "no field 'label'; this object has ['text']"),
        ('{"review": "Bad"}', "no field 'text', 'label'; this object has ['review']"),
        ('{"text": "Bad", "label": ""}', "empty label in field 'label'"),
        ('{"text": "Bad", "label": null}', "empty label in field 'label'"),
        ('{"text": "Bad", "label": ["negative"]}', "field 'label' is list; expected a string or a number"),
        ('{"text": 3, "label": "negative"}', "field 'text' is int; expected a string"),
        ('{"text": null, "label": "negative"}', "field 'text' is NoneType; expected a string"),
        ('{"text": "Bad", "label": "negative"', "invalid JSON"),
        ('"Bad"', "expected a JSON object, found str"),
    ],
)
def test_labelled_jsonl_malformed(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path / "train.jsonl", f'{{"text": "Good", "label": "positive"}}\n\n{line}\n')
    with raises_at(path, 3) as info:
        list(read_labelled_file(path))
    assert problem in str(info.value)


@pytest.mark.parametrize(
    "name", ["train.tsv", "train.json", "train.txt.gz", "train.csv.zip", "train.csv.gz.xz", "train"]
)
def test_labelled_file_unknown_suffix(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, "text,label\nGood,positive\n")
    with raises_at(path, None) as info:
        read_labelled_file(path)  # raised at the call, before any line is read
    assert "unknown format; expected .csv or .jsonl (optionally compressed: .xz, .gz, .bz2)" in str(info.value)
