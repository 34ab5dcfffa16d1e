"""SST trees: detokenized sentences, every phrase once, errors at the tree's line; the real split sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentimentkit.data.readers import (
    read_sst_trees,
)
from sentimentkit.types import TextExample

from .test_readers_base import raises_at, write

SST = (
    "(3 (2 (2 It) (2 (2 is) (2 n't))) (4 (4 great) (2 .)))\n"
    "\n"
    "(1 (2 (2 -LRB-) (2 a) (2 -RRB-)) (1 (2 either\\/or) (1 (1 bad) (2 .))))\n"
)


def test_sst_sentences_are_detokenized(tmp_path: Path) -> None:
    path = write(tmp_path / "train.txt", SST)
    assert list(read_sst_trees(path)) == [
        TextExample(text="It isn't great.", label="positive", id="1", source=f"{path}:1"),
        TextExample(text="(a) either/or bad.", label="negative", id="3", source=f"{path}:3"),
    ]


def test_sst_phrases_are_every_node_once(tmp_path: Path) -> None:
    path = write(tmp_path / "train.txt", SST)
    phrases = [(x.text, x.label) for x in read_sst_trees(path, phrases=True)]
    assert phrases == [
        ("It isn't great.", "positive"),
        ("It isn't", "neutral"),
        ("It", "neutral"),
        ("isn't", "neutral"),
        ("is", "neutral"),
        ("n't", "neutral"),
        ("great.", "very positive"),
        ("great", "very positive"),
        (".", "neutral"),
        ("(a) either/or bad.", "negative"),
        ("(a)", "neutral"),
        ("(", "neutral"),
        ("a", "neutral"),
        (")", "neutral"),
        ("either/or bad.", "negative"),
        ("either/or", "neutral"),
        ("bad.", "negative"),
        ("bad", "negative"),
    ]  # the second "." is a repeat and is not yielded again


@pytest.mark.parametrize(("tree", "problem"), [("(3 (2 a) (2 b)", "unbalanced"), ("(7 (2 a))", "outside 0-4")])
def test_sst_malformed_tree(tmp_path: Path, tree: str, problem: str) -> None:
    path = write(tmp_path / "dev.txt", f"(2 (2 fine))\n\n{tree}\n")
    with raises_at(path, 3) as info:
        list(read_sst_trees(path))
    assert problem in str(info.value)


# --- the real benchmark files (SENTIMENTKIT_DATA) -----------------------------------------------------


@pytest.mark.data
def test_real_sst(data_dir: Path) -> None:
    sizes = {s: sum(1 for _ in read_sst_trees(data_dir / f"sst5/ptb_trees/{s}.txt")) for s in ("train", "dev", "test")}
    assert sizes == {"train": 8544, "dev": 1101, "test": 2210}
