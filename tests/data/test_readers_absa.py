"""ABSA readers (3-line, SemEval-2014 XML, CoreNLP JSON): exact spans and terms on fixtures written here,
errors that point at the line or record, and (marked `data`) the documented counts of the real files."""

from __future__ import annotations

import json
import lzma
from collections import Counter
from pathlib import Path

import pytest

from sentimentkit.data.readers import (
    absa_examples,
    read_absa_lines,
    read_corenlp_json,
    read_semeval_xml,
)
from sentimentkit.types import AspectTerm, DepParse

from .test_readers_base import raises_at, write

# --- ABSA 3-line format -------------------------------------------------------------------------------


ABSA = (
    "the $T$ is great but the screen is dim .\nbattery life\n1\n"
    "i hate $T$ , $T$ is the worst\nwindows 7\n-1\n"
    "  the food was fine , but i came for the $T$ \nservice\n0\n"
    "you can $T$ it\nuninstall\xa0\n0\n"
)


def check_absa(examples: list, path: Path) -> None:
    first, twice, at_end, nbsp = examples
    assert first.text == "the battery life is great but the screen is dim ."
    assert (first.aspect, first.spans, first.polarity) == ("battery life", ((4, 16),), "positive")
    assert (first.id, first.source) == ("1", f"{path}:1")
    assert twice.text == "i hate windows 7 , windows 7 is the worst"
    assert (twice.aspect, twice.spans, twice.polarity) == ("windows 7", ((7, 16), (19, 28)), "negative")
    assert (twice.id, twice.source) == ("4", f"{path}:4")
    assert at_end.text == "the food was fine , but i came for the service"
    assert (at_end.spans, at_end.polarity, at_end.id) == (((39, 46),), "neutral", "7")
    assert (nbsp.text, nbsp.aspect, nbsp.spans) == ("you can uninstall it", "uninstall", ((8, 17),))
    for example in examples:
        assert all(example.text[a:b] == example.aspect for a, b in example.spans)


def test_absa_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "train.raw", ABSA)
    check_absa(list(read_absa_lines(path)), path)


def test_absa_lines_xz(tmp_path: Path) -> None:
    path = tmp_path / "train.raw.xz"
    with lzma.open(path, "wt", encoding="utf-8") as f:
        f.write(ABSA.rstrip("\n"))  # no newline after the last line, as in the Twitter files
    check_absa(list(read_absa_lines(path)), path)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("a $T$ b\nx\n1\nno marker here\nx\n1\n", 4, "no $T$"),
        ("a $T$ b\nx\n1\nc $T$\nx\n2\n", 6, "instance at line 4"),
        ("a $T$ b\nx\n1\nc $T$\n\n1\n", 5, "empty aspect"),
        ("a $T$ b\nx\n1\nc $T$\nx\n", 4, "incomplete instance"),
    ],
)
def test_absa_lines_malformed(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path / "test.raw", text)
    with raises_at(path, line) as info:
        list(read_absa_lines(path))
    assert problem in str(info.value)


# --- SemEval-2014 XML ---------------------------------------------------------------------------------


XML = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sentences>
    <sentence id="10">
        <text>The battery life is great but the "sales" team was rude.</text>
        <aspectTerms>
            <aspectTerm term="battery life" polarity="positive" from="4" to="16"/>
            <aspectTerm term="&quot;sales&quot; team" polarity="negative" from="34" to="46"/>
            <aspectTerm term="team" polarity="conflict" from="42" to="46"/>
        </aspectTerms>
        <aspectCategories>
            <aspectCategory category="service" polarity="negative"/>
        </aspectCategories>
    </sentence>
    <sentence id="11">
        <text>I bought it yesterday.</text>
    </sentence>
</sentences>
"""


def test_semeval_xml(tmp_path: Path) -> None:
    path = write(tmp_path / "Laptops.xml", XML)
    first, second = read_semeval_xml(path)
    assert first.text == 'The battery life is great but the "sales" team was rude.'
    assert first.terms == (
        AspectTerm("battery life", 4, 16, "positive"),
        AspectTerm('"sales" team', 34, 46, "negative"),
        AspectTerm("team", 42, 46, "conflict"),
    )
    assert (first.id, first.source) == ("10", f"{path}:sentence 10")
    assert (second.text, second.terms, second.id) == ("I bought it yesterday.", (), "11")

    examples = list(absa_examples(first))
    assert [(x.aspect, x.spans, x.polarity, x.id) for x in examples] == [
        ("battery life", ((4, 16),), "positive", "10/0"),
        ('"sales" team', ((34, 46),), "negative", "10/1"),
    ]
    assert [x.polarity for x in absa_examples(first, skip_conflict=False)] == ["positive", "negative", "conflict"]
    assert list(absa_examples(second)) == []


def test_semeval_xml_offset_mismatch(tmp_path: Path) -> None:
    path = write(tmp_path / "Laptops.xml", XML.replace('from="4" to="16"', 'from="5" to="17"'))
    with raises_at(path, "sentence 10") as info:
        list(read_semeval_xml(path))
    assert "'battery life' does not match text[5:17]" in str(info.value)


def test_semeval_xml_without_sentences(tmp_path: Path) -> None:
    path = write(tmp_path / "other.xml", "<reviews><review/></reviews>")
    with raises_at(path, None) as info:
        list(read_semeval_xml(path))
    assert "no <sentence> elements under <reviews>" in str(info.value)


def test_semeval_xml_parse_error(tmp_path: Path) -> None:
    path = write(tmp_path / "Laptops.xml", XML.replace('from="4"', "from=4"))
    with raises_at(path, 6) as info:
        list(read_semeval_xml(path))
    assert "invalid XML" in str(info.value)


# --- CoreNLP-parsed JSON ------------------------------------------------------------------------------


CORENLP = [
    {
        "token": ["The", "battery", "life", "is", "great", "."],
        "pos": ["DT", "NN", "NN", "VBZ", "JJ", "."],
        "head": [3, 3, 5, 5, 0, 5],
        "deprel": ["det", "compound", "nsubj", "cop", "ROOT", "punct"],
        "aspects": [{"term": ["battery", "life"], "from": 1, "to": 3, "polarity": "positive"}],
    },
    {
        "token": ["I", "love", "the", "screen"],
        "pos": ["PRP", "VBP", "DT", "NN"],
        "head": [2, 0, 4, 2],
        "deprel": ["nsubj", "ROOT", "det", "dobj"],
        "aspects": [
            {"term": ["screen"], "from": 3, "to": 4, "polarity": "positive"},
            {"term": ["I"], "from": 0, "to": 1, "polarity": "neutral"},
        ],
    },
]


def write_xz_json(path: Path, data: object) -> Path:
    with lzma.open(path, "wt", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    return path


def test_corenlp_json(tmp_path: Path) -> None:
    path = write_xz_json(tmp_path / "train.json.xz", CORENLP)
    first, second = read_corenlp_json(path)
    assert first.text == "The battery life is great ."
    assert first.terms == (AspectTerm("battery life", 4, 16, "positive"),)
    assert first.parse == DepParse(
        words=("The", "battery", "life", "is", "great", "."),
        heads=(3, 3, 5, 5, 0, 5),
        deprels=("det", "compound", "nsubj", "cop", "ROOT", "punct"),
        pos=("DT", "NN", "NN", "VBZ", "JJ", "."),
        text="The battery life is great .",
        id="0",
    )
    assert (first.id, first.source) == ("0", f"{path}:record 0")
    assert second.text == "I love the screen"
    assert second.terms == (AspectTerm("screen", 11, 17, "positive"), AspectTerm("I", 0, 1, "neutral"))
    assert [x.spans for x in absa_examples(second)] == [((11, 17),), ((0, 1),)]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"head": [2, 0, 4]}, "'head' has 3 entries for 4 tokens"),
        ({"head": [2, 0, 9, 2]}, "head[2] = 9 is outside 0..4"),
        ({"aspects": [{"term": ["love"], "from": 3, "to": 4, "polarity": "positive"}]}, "differs from tokens"),
        ({"aspects": [{"term": ["x"], "from": 3, "to": 5, "polarity": "positive"}]}, "token range [3, 5)"),
        ({"deprel": None}, "'deprel' must be a list of strings"),
    ],
)
def test_corenlp_json_malformed_record(tmp_path: Path, change: dict, problem: str) -> None:
    path = write_xz_json(tmp_path / "test.json.xz", [CORENLP[0], {**CORENLP[1], **change}])
    with raises_at(path, "record 1") as info:
        list(read_corenlp_json(path))
    assert problem in str(info.value)


def test_corenlp_json_missing_key_and_invalid_json(tmp_path: Path) -> None:
    record = {key: value for key, value in CORENLP[0].items() if key != "deprel"}
    path = write_xz_json(tmp_path / "test.json.xz", [record])
    with raises_at(path, "record 0") as info:
        list(read_corenlp_json(path))
    assert "keys ['token', 'pos', 'head', 'deprel', 'aspects']" in str(info.value)

    path = write(tmp_path / "broken.json", '[\n  {"token": ["a"],\n   "pos": ["DT"]\n   "head": [0]}\n]\n')
    with raises_at(path, 4) as info:
        list(read_corenlp_json(path))
    assert "invalid JSON" in str(info.value)


# --- the real benchmark files (SENTIMENTKIT_DATA) -----------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize(
    ("train", "test", "sizes"),
    [
        ("absa/semeval14/Laptops_Train.xml.seg", "absa/semeval14/Laptops_Test_Gold.xml.seg", (2328, 638)),
        ("absa/semeval14/Restaurants_Train.xml.seg", "absa/semeval14/Restaurants_Test_Gold.xml.seg", (3608, 1120)),
        ("absa/twitter/train.raw", "absa/twitter/test.raw", (6248, 692)),
        ("absa/semeval15/restaurant_train.raw", "absa/semeval15/restaurant_test.raw", (1204, 542)),
        ("absa/semeval16/restaurant_train.raw", "absa/semeval16/restaurant_test.raw", (1748, 616)),
    ],
)
def test_real_absa_lines(data_dir: Path, train: str, test: str, sizes: tuple[int, int]) -> None:
    splits = [list(read_absa_lines(data_dir / name)) for name in (train, test)]
    assert tuple(len(split) for split in splits) == sizes
    for example in splits[0] + splits[1]:
        assert all(example.text[a:b] == example.aspect for a, b in example.spans)


@pytest.mark.data
def test_real_twitter_repeats_targets(data_dir: Path) -> None:
    counts = Counter(len(x.spans) for x in read_absa_lines(data_dir / "absa/twitter/train.raw"))
    assert counts == {1: 5880, 2: 340, 3: 22, 4: 5, 6: 1}


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "sentences", "terms", "without_conflict"),
    [
        ("Laptop_Train_v2.xml", 3045, 2358, 2313),
        ("Laptops_Test_Gold.xml", 800, 654, 638),
        ("Restaurants_Train_v2.xml", 3041, 3693, 3602),
        ("Restaurants_Test_Gold.xml", 800, 1134, 1120),
    ],
)
def test_real_semeval_xml(data_dir: Path, name: str, sentences: int, terms: int, without_conflict: int) -> None:
    # The XML train sets give 15 (laptop) and 6 (restaurant) fewer non-conflict terms than the 3-line files.
    parsed = list(read_semeval_xml(data_dir / "absa/semeval14_xml" / name))
    assert len(parsed) == sentences
    assert sum(len(s.terms) for s in parsed) == terms
    assert sum(1 for s in parsed for _ in absa_examples(s)) == without_conflict


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "sentences", "aspects"),
    [
        ("Laptops/train.json.xz", 1454, 2282),
        ("Laptops/test.json.xz", 409, 632),
        ("Restaurants/train.json.xz", 1980, 3608),
        ("Restaurants/test.json.xz", 599, 1119),
        ("Tweets/test.json.xz", 677, 677),
    ],
)
def test_real_corenlp_json(data_dir: Path, name: str, sentences: int, aspects: int) -> None:
    # The README's split sizes (Laptop 2282/632, ...) count aspects; a record is a sentence with 1+ aspects.
    parsed = list(read_corenlp_json(data_dir / "absa/parsed_corenlp" / name))
    assert len(parsed) == sentences
    assert sum(len(s.terms) for s in parsed) == aspects
