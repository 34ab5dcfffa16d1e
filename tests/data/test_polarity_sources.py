"""Sentence-polarity datasets (issue 16): sentences of the ABSA 3-line files labelled by their aspects when these
agree, and TweetEval emotion as polarity. The grouping rule on files written here; (marked `data`) the measured
counts, labels and splits of the real files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sentimentkit.data.datasets import (
    DATASETS,
    POLARITY_SOURCES,
    load_dataset,
    sentence_polarities,
)
from sentimentkit.data.readers import read_absa_lines
from sentimentkit.labels import BINARY, POLARITY3

from .test_readers_base import write

SPLITS = ("train", "validation", "test")
ABSA_SENTENCES = ("laptop14", "restaurant14", "restaurant15", "restaurant16", "twitter")

# Aspect instances: a sentence with two agreeing aspects, a mixed one, a single-aspect one, and the first
# sentence again further down the file, once spaced differently (the same sentence once whitespace is collapsed).
ABSA = (
    "the $T$ was great and the staff friendly .\nfood\n1\n"
    "the food was great and the $T$ friendly .\nstaff\n1\n"
    "the $T$ was fine but the service was slow .\nfood\n0\n"
    "the food was fine but the $T$ was slow .\nservice\n-1\n"
    "i waited an hour for the $T$ .\nbill\n-1\n"
    "the $T$ was great and the staff friendly .\nfood\n1\n"
    "the $T$  was great and the staff friendly .\nfood\n1\n"
)


def test_polarity_sources_are_registered_text_classification_datasets() -> None:
    assert set(POLARITY_SOURCES) == {f"{name}-sentences" for name in ABSA_SENTENCES} | {"tweeteval-polarity"}
    for name in POLARITY_SOURCES:
        spec = DATASETS.get(name)
        assert spec.task == "text-classification.v1", name
        assert spec.labels in (POLARITY3, BINARY), name
    assert DATASETS.get("tweeteval-polarity").labels == BINARY


def test_sentence_polarities_groups_by_text_and_leaves_out_mixed(tmp_path: Path) -> None:
    path = write(tmp_path / "train.raw", ABSA)
    kept, mixed = sentence_polarities(read_absa_lines(path))
    assert [(x.text, x.label, x.id) for x in kept] == [
        ("the food was great and the staff friendly .", "positive", "1"),
        ("i waited an hour for the bill .", "negative", "13"),
    ]
    assert kept[0].source == f"{path}:1"
    assert mixed == ["the food was fine but the service was slow ."]


def test_sentence_dataset_carves_sentences_and_keeps_test_apart(tmp_path: Path) -> None:
    # 40 sentences of two agreeing aspects (14 negative, 13 neutral, 13 positive) and 5 mixed ones, laid out as
    # the restaurant15 files; the carve holds out round(10 %) of each label: 1 + 1 + 1 sentences.
    lines = []
    for i in range(40):
        polarity = i % 3 - 1
        lines += [f"$T$ {i} and the service\nfood\n{polarity}\n", f"food {i} and the $T$\nservice\n{polarity}\n"]
    for i in range(5):
        lines += [f"$T$ {i} but the service\nfood\n1\n", f"food {i} but the $T$\nservice\n-1\n"]
    folder = tmp_path / "absa" / "semeval15"
    folder.mkdir(parents=True)
    write(folder / "restaurant_train.raw", "".join(lines))
    write(folder / "restaurant_test.raw", "the $T$ was cold\nsoup\n-1\n")

    splits = {s: load_dataset("restaurant15-sentences", s, tmp_path) for s in SPLITS}
    assert [len(splits[s]) for s in SPLITS] == [37, 3, 1]
    train, validation = ({x.text for x in splits[s]} for s in ("train", "validation"))
    assert not train & validation
    assert len(train | validation) == 40
    assert not any(" but the service" in text for text in train | validation)
    assert splits["test"][0].text == "the soup was cold"


def test_tweeteval_polarity_maps_emotions(tmp_path: Path) -> None:
    folder = tmp_path / "tweeteval" / "emotion"
    folder.mkdir(parents=True)
    write(folder / "mapping.txt", "0\tanger\n1\tjoy\n2\toptimism\n3\tsadness\n")
    for split in ("train", "val", "test"):
        write(folder / f"{split}_text.txt", "so angry\nso happy\nit will be fine\nso sad\n")
        write(folder / f"{split}_labels.txt", "0\n1\n2\n3\n")
    for split in SPLITS:
        examples = load_dataset("tweeteval-polarity", split, tmp_path)
        assert [x.label for x in examples] == ["negative", "positive", "positive", "negative"]
        assert examples[1].text == "so happy"


# --- the real files ----------------------------------------------------------------------------------------

# (train, validation, test) sizes, and the examples of each label per split, measured on the shared data
SIZES = {
    "laptop14-sentences": (1188, 132, 380),
    "restaurant14-sentences": (1521, 169, 530),
    "restaurant15-sentences": (721, 80, 372),
    "restaurant16-sentences": (1057, 117, 408),
    "twitter-sentences": (5618, 624, 692),
    "tweeteval-polarity": (3257, 374, 1421),
}
REAL = {
    "laptop14-sentences": (
        {"negative": 508, "neutral": 178, "positive": 502},
        {"negative": 56, "neutral": 20, "positive": 56},
        {"negative": 85, "neutral": 87, "positive": 208},
    ),
    "restaurant14-sentences": (
        {"negative": 309, "neutral": 224, "positive": 988},
        {"negative": 34, "neutral": 25, "positive": 110},
        {"negative": 96, "neutral": 66, "positive": 368},
    ),
    "restaurant15-sentences": (
        {"negative": 150, "neutral": 22, "positive": 549},
        {"negative": 17, "neutral": 2, "positive": 61},
        {"negative": 134, "neutral": 21, "positive": 217},
    ),
    "restaurant16-sentences": (
        {"negative": 272, "neutral": 41, "positive": 744},
        {"negative": 30, "neutral": 4, "positive": 83},
        {"negative": 78, "neutral": 23, "positive": 307},
    ),
    "twitter-sentences": (
        {"negative": 1404, "neutral": 2810, "positive": 1404},
        {"negative": 156, "neutral": 312, "positive": 156},
        {"negative": 173, "neutral": 346, "positive": 173},
    ),
    "tweeteval-polarity": (
        {"negative": 2255, "positive": 1002},
        {"negative": 249, "positive": 125},
        {"negative": 940, "positive": 481},
    ),
}
# (train file, test file) mixed sentences left out
MIXED = {
    "laptop14": (161, 38),
    "restaurant14": (319, 80),
    "restaurant15": (45, 35),
    "restaurant16": (79, 19),
    "twitter": (0, 0),
}
ABSA_FILES = {
    "laptop14": ("absa/semeval14/Laptops_Train.xml.seg", "absa/semeval14/Laptops_Test_Gold.xml.seg"),
    "restaurant14": ("absa/semeval14/Restaurants_Train.xml.seg", "absa/semeval14/Restaurants_Test_Gold.xml.seg"),
    "twitter": ("absa/twitter/train.raw", "absa/twitter/test.raw"),
    "restaurant15": ("absa/semeval15/restaurant_train.raw", "absa/semeval15/restaurant_test.raw"),
    "restaurant16": ("absa/semeval16/restaurant_train.raw", "absa/semeval16/restaurant_test.raw"),
}


@pytest.mark.data
@pytest.mark.parametrize("name", POLARITY_SOURCES)
def test_real_counts_labels_and_splits(data_dir: Path, name: str) -> None:
    splits = {s: load_dataset(name, s, data_dir) for s in SPLITS}
    assert tuple(len(splits[s]) for s in SPLITS) == SIZES[name]
    assert tuple(Counter(x.label for x in splits[s]) for s in SPLITS) == REAL[name]
    labels = DATASETS.get(name).labels
    for split, examples in splits.items():
        assert {x.label for x in examples} <= set(labels.names), split
        assert all(x.text and x.id and x.source for x in examples), split
        by_text: dict[str, set[str]] = {}
        for x in examples:
            by_text.setdefault(x.text, set()).add(x.label)
        assert all(len(found) == 1 for found in by_text.values()), f"{split}: a text with two labels"
        if name.endswith("-sentences"):  # sentences come once each (TweetEval's train repeats 2 tweets)
            assert len(by_text) == len(examples), split
    assert not {x.text for x in splits["train"]} & {x.text for x in splits["validation"]}
    if DATASETS.get(name).carve:  # stratified: validation holds round(10 %) of each label of the train file
        train, validation, _ = REAL[name]
        assert validation == {label: round((n + validation[label]) * 0.1) for label, n in train.items()}


@pytest.mark.data
@pytest.mark.parametrize("name", ABSA_SENTENCES)
def test_real_mixed_counts_are_documented(data_dir: Path, name: str) -> None:
    measured = tuple(len(sentence_polarities(read_absa_lines(data_dir / f))[1]) for f in ABSA_FILES[name])
    assert measured == MIXED[name]
    description = DATASETS.get(f"{name}-sentences").description
    train, validation, test = SIZES[f"{name}-sentences"]
    assert f"({train}/{validation}/{test} sentences; {measured[0]} mixed left out" in description
    assert f"{measured[1]} of test;" in description


@pytest.mark.data
def test_real_mixed_sentence_is_left_out(data_dir: Path) -> None:
    # "cord" is neutral and "battery life" positive in the laptop train file
    sentence = "I charge it at night and skip taking the cord with me because of the good battery life ."
    aspects = [x for x in load_dataset("laptop14", "train", data_dir) if x.text == sentence]
    aspects += [x for x in load_dataset("laptop14", "validation", data_dir) if x.text == sentence]
    assert {(x.aspect, x.polarity) for x in aspects} == {("cord", "neutral"), ("battery life", "positive")}
    for split in SPLITS:
        assert sentence not in {x.text for x in load_dataset("laptop14-sentences", split, data_dir)}
    # and a test-file one: "rose roll" positive, "menu" neutral
    test = {x.text for x in load_dataset("restaurant14-sentences", "test", data_dir)}
    assert "Try the rose roll -LRB- not on menu -RRB- ." not in test


@pytest.mark.data
def test_real_spacing_variants_are_one_sentence(data_dir: Path) -> None:
    # the aspect line "delete  key" (two spaces) puts back the same sentence as its neighbour's instance
    sentence = "And if you do a lot of writing , editing is a problem since there is no forward delete key ."
    found = [
        x
        for split in ("train", "validation")
        for x in load_dataset("laptop14-sentences", split, data_dir)
        if " ".join(x.text.split()) == sentence
    ]
    assert [(x.text, x.label) for x in found] == [(sentence, "negative")]


@pytest.mark.data
def test_real_tweeteval_polarity_is_the_emotion_data_relabelled(data_dir: Path) -> None:
    to_polarity = {"anger": "negative", "sadness": "negative", "joy": "positive", "optimism": "positive"}
    for split in SPLITS:
        emotion = load_dataset("tweeteval-emotion", split, data_dir)
        polarity = load_dataset("tweeteval-polarity", split, data_dir)
        assert [(x.text, x.id, to_polarity[x.label]) for x in emotion] == [(x.text, x.id, x.label) for x in polarity]
