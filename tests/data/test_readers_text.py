"""Text benchmarks (TweetEval, IMDb, CMU-MOSI): exact examples on fixtures written here, errors at the
line, and (marked `data`) the documented counts of the real files."""

from __future__ import annotations

import lzma
from collections import Counter
from pathlib import Path

import pytest

from sentimentkit.data.readers import (
    read_imdb_csv,
    read_mosi_labels,
    read_tweeteval,
)
from sentimentkit.types import TextExample

from .test_readers_base import raises_at, write

# --- TweetEval ----------------------------------------------------------------------------------------


def write_tweeteval(tmp_path: Path, labels: str) -> tuple[Path, Path, Path]:
    text = write(tmp_path / "train_text.txt", "I am so angry right now \n  @user what a lovely day!  \n")
    return text, write(tmp_path / "train_labels.txt", labels), write(tmp_path / "mapping.txt", "0\tanger\n1\tjoy")


def test_tweeteval(tmp_path: Path) -> None:
    text, labels, mapping = write_tweeteval(tmp_path, "0\n1\n")
    assert list(read_tweeteval(text, labels, mapping)) == [
        TextExample(text="I am so angry right now", label="anger", id="1", source=f"{text}:1"),
        TextExample(text="  @user what a lovely day!", label="joy", id="2", source=f"{text}:2"),
    ]
    assert [x.label for x in read_tweeteval(text, labels)] == ["0", "1"]


def test_tweeteval_malformed(tmp_path: Path) -> None:
    text, labels, mapping = write_tweeteval(tmp_path, "0\n1\n1\n")
    with raises_at(text, None) as info:
        list(read_tweeteval(text, labels, mapping))
    assert f"2 tweets but {labels} has 3 labels" in str(info.value)

    text, labels, mapping = write_tweeteval(tmp_path, "0\n7\n")
    with raises_at(labels, 2) as info:
        list(read_tweeteval(text, labels, mapping))
    assert f"label '7' is not in {mapping}" in str(info.value)


# --- IMDb and CMU-MOSI (CSV) --------------------------------------------------------------------------


IMDB = (
    "id,label,rating,replaced_in_source_copy,text\n"
    'train/pos/0_9.txt,1,9,0,"Great film, really."\n'
    'train/neg/1_2.txt,0,2,0,"He said ""no"".\nThen it ended."\n'
    "train/pos/2_8.txt,1,8,0,Plain text\n"
)


def test_imdb_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", IMDB)
    assert list(read_imdb_csv(path)) == [
        TextExample(text="Great film, really.", label="positive", id="train/pos/0_9.txt", source=f"{path}:2"),
        TextExample(text='He said "no".\nThen it ended.', label="negative", id="train/neg/1_2.txt", source=f"{path}:4"),
        TextExample(text="Plain text", label="positive", id="train/pos/2_8.txt", source=f"{path}:5"),
    ]


def test_imdb_unsup_csv_xz(tmp_path: Path) -> None:
    path = tmp_path / "unsup.csv.xz"
    with lzma.open(path, "wt", encoding="utf-8", newline="") as f:
        f.write('id,text\r\ntrain/unsup/0_0.txt,"One, two"\r\n')
    assert list(read_imdb_csv(path)) == [TextExample(text="One, two", id="train/unsup/0_0.txt", source=f"{path}:2")]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (IMDB.replace("train/pos/2_8.txt,1,", "train/pos/2_8.txt,2,"), 5, "label '2'; expected 0"),
        (IMDB.replace(",0,2,0,", ",0,2,"), 4, "4 fields; the header has 5"),
        (IMDB.replace(",text\n", ",review\n"), 1, "no column text; the header has ['id', 'label'"),
        (IMDB + 'train/pos/3_7.txt,1,7,0,"never closed\nmore\n', 7, "invalid CSV"),
    ],
)
def test_imdb_csv_malformed(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path / "test.csv", text)
    with raises_at(path, line) as info:
        list(read_imdb_csv(path))
    assert problem in str(info.value)


MOSI = (
    "video_id,clip_id,text,label,annotation,mode,label_by\n"
    "abc,1,IT WAS GREAT,2.4,Positive,train,0\n"
    'abc,2,"WELL, NO",-3.0,Negative,valid,0\n'
    "xyz,10,OK,0.0,Neutral,test,0\n"
)


def test_mosi_labels(tmp_path: Path) -> None:
    path = write(tmp_path / "label.csv", MOSI)
    examples = list(read_mosi_labels(path))
    assert [(x.id, x.text, x.score, x.annotation, x.split) for x in examples] == [
        ("abc_1", "IT WAS GREAT", 2.4, "Positive", "train"),
        ("abc_2", "WELL, NO", -3.0, "Negative", "valid"),
        ("xyz_10", "OK", 0.0, "Neutral", "test"),
    ]
    assert examples[1].source == f"{path}:3"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (",-3.0,", ",-3.5,", "outside [-3, 3]"),
        (",-3.0,", ",bad,", "is not a number"),
        (",valid,", ",dev,", "mode 'dev'"),
    ],
)
def test_mosi_labels_malformed(tmp_path: Path, old: str, new: str, problem: str) -> None:
    path = write(tmp_path / "label.csv", MOSI.replace(old, new))
    with raises_at(path, 3) as info:
        list(read_mosi_labels(path))
    assert problem in str(info.value)


# --- the real benchmark files (SENTIMENTKIT_DATA) -----------------------------------------------------


@pytest.mark.data
def test_real_tweeteval(data_dir: Path) -> None:
    folder = data_dir / "tweeteval/emotion"
    sizes = {
        split: Counter(
            x.label
            for x in read_tweeteval(
                folder / f"{split}_text.txt", folder / f"{split}_labels.txt", folder / "mapping.txt"
            )
        )
        for split in ("train", "val", "test")
    }
    assert {split: sum(c.values()) for split, c in sizes.items()} == {"train": 3257, "val": 374, "test": 1421}
    assert sizes["train"] == {"anger": 1400, "sadness": 855, "joy": 708, "optimism": 294}


@pytest.mark.data
def test_real_imdb_test(data_dir: Path) -> None:
    labels = Counter(x.label for x in read_imdb_csv(data_dir / "imdb/test.csv.xz"))
    assert labels == {"positive": 12500, "negative": 12500}


@pytest.mark.data
@pytest.mark.slow
def test_real_imdb_train_and_unsup(data_dir: Path) -> None:
    assert Counter(x.label for x in read_imdb_csv(data_dir / "imdb/train.csv.xz")) == {
        "positive": 12500,
        "negative": 12500,
    }
    assert Counter(x.label for x in read_imdb_csv(data_dir / "imdb/unsup.csv.xz")) == {None: 50000}


@pytest.mark.data
def test_real_mosi(data_dir: Path) -> None:
    examples = list(read_mosi_labels(data_dir / "mosi/MOSI-label.csv"))
    assert Counter(x.split for x in examples) == {"train": 1284, "valid": 229, "test": 686}
    assert len({x.id for x in examples}) == len(examples)
