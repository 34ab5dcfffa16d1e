"""Readers: exact values on small fixtures written here, errors that point at the file and line, and
(marked `data`) the documented counts of the real benchmark files."""

from __future__ import annotations

import json
import lzma
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sentimentkit.data.readers import (
    ReaderError,
    absa_examples,
    read_absa_lines,
    read_conllu,
    read_corenlp_json,
    read_imdb_csv,
    read_mosi_labels,
    read_semeval_xml,
    read_sst_trees,
    read_text_lines,
    read_texts_csv,
    read_texts_jsonl,
    read_tweeteval,
)
from sentimentkit.types import AspectTerm, DepParse, TextExample


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


# --- SST -----------------------------------------------------------------------------------------------

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


# --- CoNLL-U ------------------------------------------------------------------------------------------

CONLLU = """# newdoc id = d1
# sent_id = s1
# text = I can't go.
1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t4:nsubj\t_
2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_
2\tca\tcan\tAUX\tMD\t_\t4\taux\t4:aux\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t4:advmod\tSpaceAfter=No
4\tgo\tgo\tVERB\tVB\t_\t0\troot\t0:root\tSpaceAfter=No
4.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t4:conj\t_
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_

# sent_id = s2
1\tHello\thello\tINTJ\tUH\t_\t0\troot\t0:root\t_"""


def test_conllu(tmp_path: Path) -> None:
    path = write(tmp_path / "en_ewt-ud-dev.conllu", CONLLU)
    assert list(read_conllu(path)) == [
        DepParse(
            words=("I", "ca", "n't", "go", "."),
            heads=(4, 4, 4, 0, 4),
            deprels=("nsubj", "aux", "advmod", "root", "punct"),
            pos=("PRP", "MD", "RB", "VB", "."),
            upos=("PRON", "AUX", "PART", "VERB", "PUNCT"),
            text="I can't go.",
            id="s1",
        ),
        DepParse(words=("Hello",), heads=(0,), deprels=("root",), pos=("UH",), upos=("INTJ",), id="s2"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "line", "problem"),
    [
        ("2\tca\tcan\tAUX\tMD\t_\t4", "2\tca\tcan\tAUX\tMD\t4", 6, "9 tab-separated columns"),
        ("\t_\t4\taux\t", "\t_\tfour\taux\t", 6, "head 'four' is not an integer"),
        ("\t_\t4\taux\t", "\t_\t8\taux\t", 6, "head 8 is outside 0..5"),
        ("5\t.\t.", "6\t.\t.", 10, "word id '6'; expected 5"),
    ],
)
def test_conllu_malformed(tmp_path: Path, old: str, new: str, line: int, problem: str) -> None:
    assert old in CONLLU
    path = write(tmp_path / "en_ewt-ud-dev.conllu", CONLLU.replace(old, new, 1))
    with raises_at(path, line) as info:
        list(read_conllu(path))
    assert problem in str(info.value)


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


# --- CSV: IMDb, MOSI, user texts ----------------------------------------------------------------------

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


@pytest.mark.data
def test_real_conllu(data_dir: Path) -> None:
    sizes = {
        s: sum(1 for _ in read_conllu(data_dir / f"ud_english_ewt/en_ewt-ud-{s}.conllu.xz")) for s in ("dev", "test")
    }
    assert sizes == {"dev": 2001, "test": 2077}
    first = next(read_conllu(data_dir / "ud_english_ewt/en_ewt-ud-train.conllu.xz"))
    assert first.words[:3] == ("Al", "-", "Zaman") and first.heads[:3] == (0, 3, 1)


@pytest.mark.data
def test_real_conllu_train(data_dir: Path) -> None:
    assert sum(1 for _ in read_conllu(data_dir / "ud_english_ewt/en_ewt-ud-train.conllu.xz")) == 12544


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


@pytest.mark.data
def test_real_sst(data_dir: Path) -> None:
    sizes = {s: sum(1 for _ in read_sst_trees(data_dir / f"sst5/ptb_trees/{s}.txt")) for s in ("train", "dev", "test")}
    assert sizes == {"train": 8544, "dev": 1101, "test": 2210}
