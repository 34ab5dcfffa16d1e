"""Lexicon readers: exact scores on small fixtures written here, errors that point at the file and line,
and (marked `data`) the real lexicons, which are read from the data folder and never copied into the package."""

from __future__ import annotations

import lzma
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sentimentkit.data.lexicon import (
    Lexicon,
    load_lexicon,
    read_mpqa,
    read_nrc_vad,
    read_nrc_vad_full,
    read_sentiwordnet,
    read_socal,
    read_socal_intensifiers,
    read_vader,
    read_vader_emoji,
)
from sentimentkit.data.readers import ReaderError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def raises_at(path: Path, line: int | None) -> Iterator[pytest.ExceptionInfo[ReaderError]]:
    """Expect a ReaderError whose message starts with `path:line: `."""
    with pytest.raises(ReaderError) as info:
        yield info
    prefix = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(info.value).startswith(prefix), str(info.value)


def test_lexicon_lookup_is_case_insensitive() -> None:
    lexicon = Lexicon("toy", {"good": 2.0, "fed up": -1.5}, (-4.0, 4.0))
    assert lexicon.get("GOOD") == 2.0
    assert lexicon.get("Fed Up") == -1.5
    assert lexicon.get("bad") is None
    assert lexicon.get("bad", 0.0) == 0.0
    assert "Good" in lexicon and "bad" not in lexicon and 3 not in lexicon
    assert len(lexicon) == 2
    assert lexicon.rejected == ()


@pytest.mark.parametrize(
    ("scores", "scale", "problem"),
    [
        ({"Good": 1.0}, (-4.0, 4.0), "lower-case"),
        ({"good": 5.0}, (-4.0, 4.0), "outside"),
        ({}, (1.0, 0.0), "low < high"),
    ],
)
def test_lexicon_rejects_bad_entries(scores: dict[str, float], scale: tuple[float, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Lexicon("toy", scores, scale)


# --- VADER ---------------------------------------------------------------------------------------------

RATINGS = "[1, 2, 2, 1, 2, 2, 1, 2, 2, 1]"
VADER = (
    f"good\t1.9\t0.9434\t{RATINGS}\n"
    f":p\t1.0\t0.5\t{RATINGS}\n"
    f":P\t1.4\t0.5\t{RATINGS}\n"
    f"lol\t2.9\t0.5\t{RATINGS}\n"
    f"lol\t1.8\t0.5\t{RATINGS}\n"
    f"can't stand\t-2.0\t0.63246\t{RATINGS}\n"
)


def test_vader(tmp_path: Path) -> None:
    lexicon = read_vader(write(tmp_path / "vader_lexicon.txt", VADER))
    assert (lexicon.name, lexicon.scale) == ("vader", (-4.0, 4.0))
    # as vaderSentiment finds them: the lower-case ":p" wins over ":P", the last "lol" wins
    assert lexicon.scores == {"good": 1.9, ":p": 1.0, "lol": 1.8, "can't stand": -2.0}
    assert lexicon.get(":P") == 1.0


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("good\t1.9\t0.9", "3 fields"),
        ("good\t5.2\t0.9\t[]", "outside -4.0..4.0"),
        ("\U0001f600\tgrinning face", "read_vader_emoji"),
    ],
)
def test_vader_malformed(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path / "vader_lexicon.txt", f"{VADER}{line}\n")
    with raises_at(path, 7) as info:
        read_vader(path)
    assert problem in str(info.value)


def test_vader_emoji(tmp_path: Path) -> None:
    path = write(tmp_path / "emoji_utf8_lexicon.txt", "\U0001f600\tgrinning face\n\u2764\ufe0f\tred heart")
    assert read_vader_emoji(path) == {"\U0001f600": "grinning face", "\u2764\ufe0f": "red heart"}
    path = write(tmp_path / "emoji_utf8_lexicon.txt", "\U0001f600\tgrinning face\n\u2764\ufe0f\n")
    with raises_at(path, 2):
        read_vader_emoji(path)


# --- NRC-VAD -------------------------------------------------------------------------------------------

NRC = "Word\tValence\tArousal\tDominance\naardvark\t0.427\t0.490\t0.437\naltar boy\t0.434\t0.206\t0.350\n"


def test_nrc_vad(tmp_path: Path) -> None:
    path = write(tmp_path / "NRC-VAD-Lexicon.txt", NRC)
    assert read_nrc_vad_full(path) == {"aardvark": (0.427, 0.490, 0.437), "altar boy": (0.434, 0.206, 0.350)}
    lexicon = read_nrc_vad(path)
    assert (lexicon.name, lexicon.scale, lexicon.scores) == (
        "nrc-vad",
        (0.0, 1.0),
        {"aardvark": 0.427, "altar boy": 0.434},
    )


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (NRC.replace("Valence", "Pleasure"), 1, "expected Word<TAB>Valence"),
        (NRC.replace("0.206", "1.206"), 3, "arousal '1.206' is outside 0.0..1.0"),
        (NRC + "Aardvark\t0.4\t0.4\t0.4\n", 4, "listed again (first at line 2)"),
        (NRC + "zoo\t0.4\t0.4\n", 4, "3 fields"),
    ],
)
def test_nrc_vad_malformed(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path / "NRC-VAD-Lexicon.txt", text)
    with raises_at(path, line) as info:
        read_nrc_vad(path)
    assert problem in str(info.value)


# --- MPQA ----------------------------------------------------------------------------------------------

MPQA = (
    "type=weaksubj len=1 word1=abuse pos1=adj stemmed1=n priorpolarity=negative\n"
    "type=strongsubj len=1 word1=abuse pos1=verb stemmed1=y priorpolarity=negative\n"
    "type=strongsubj len=1 word1=brilliant pos1=adj stemmed1=n priorpolarity=positive\n"
    "type=weaksubj len=1 word1=impassive pos1=adj stemmed1=n polarity=negative priorpolarity=weakneg\n"
    "type=strongsubj len=1 word1=absolute pos1=adj stemmed1=n priorpolarity=both\n"
    "type=weaksubj len=1 word1=think pos1=verb stemmed1=y priorpolarity=neutral\n"
)


def test_mpqa(tmp_path: Path) -> None:
    lexicon = read_mpqa(write(tmp_path / "subjclueslen1-HLTEMNLP05.tff", MPQA))
    assert (lexicon.name, lexicon.scale) == ("mpqa", (-1.0, 1.0))
    assert lexicon.scores == {"abuse": -0.75, "brilliant": 1.0, "impassive": -0.5, "absolute": 0.0, "think": 0.0}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("type=weaksubj len=1 word1=x pos1=adj negative", "'negative' is not key=value"),
        ("type=weaksubj len=1 word1=x pos1=adj priorpolarity=good", "priorpolarity=good"),
        ("type=mediumsubj len=1 word1=x pos1=adj priorpolarity=negative", "type=mediumsubj"),
        ("type=weaksubj len=1 pos1=adj priorpolarity=negative", "missing word1"),
    ],
)
def test_mpqa_malformed(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path / "clues.tff", f"{MPQA}\n{line}\n")
    with raises_at(path, 8) as info:
        read_mpqa(path)
    assert problem in str(info.value)


# --- SO-CAL --------------------------------------------------------------------------------------------


def socal_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "so-cal"
    folder.mkdir()
    (folder / "adj_dictionary1.11.txt").write_bytes(
        b"priceless\t5\r\nclich\xe9d\t-2\r\nnot_(bad)\t1\r\nfavorite\t4\r\nirrational \t-2\r\n"
    )
    write(folder / "noun_dictionary1.11.txt", "favorite\t3\nmasterpiece\t5")
    write(folder / "google_dict.txt", "able\t\t9.5\n")  # a separate dictionary, not merged
    write(
        folder / "int_dictionary1.11.txt",
        "the_least\t-3\nvery\t0.2\nlots_of\t\t0.3\nsome -0.2\nmassive\t0.4\nmassive\t0.6\n\n",
    )
    return folder


def test_socal_folder(tmp_path: Path) -> None:
    folder = socal_folder(tmp_path)
    lexicon = read_socal(folder)
    assert (lexicon.name, lexicon.scale) == ("socal", (-5.0, 5.0))
    assert lexicon.scores == {
        "priceless": 5.0,
        "clichéd": -2.0,  # a Latin-1 line
        "not (bad)": 1.0,
        "favorite": 3.5,  # adjective 4, noun 3
        "irrational": -2.0,
        "masterpiece": 5.0,
    }
    assert read_socal(folder / "noun_dictionary1.11.txt").scores == {"favorite": 3.0, "masterpiece": 5.0}
    intensifiers = {"the least": -3.0, "very": 0.2, "lots of": 0.3, "some": -0.2, "massive": 0.5}
    assert read_socal_intensifiers(folder) == intensifiers
    assert read_socal_intensifiers(folder / "int_dictionary1.11.txt") == intensifiers


def test_socal_malformed(tmp_path: Path) -> None:
    path = write(tmp_path / "adj_dictionary1.11.txt", "good\t3\nbad\tvery\n")
    with raises_at(path, 2) as info:
        read_socal(path)
    assert "score 'very' is not a number" in str(info.value)

    path = write(tmp_path / "verb_dictionary1.11.txt", "love\t4\nput off\t-2\n")
    with raises_at(path, 2) as info:
        read_socal(path)
    assert "3 fields; expected a word and a score" in str(info.value)

    path = write(tmp_path / "int_dictionary1.11.txt", "very\t0.2\nquite\tmuch\n")
    with raises_at(path, 2) as info:
        read_socal_intensifiers(path)
    assert "modifier 'much' is not a number" in str(info.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    with raises_at(empty, None) as info:
        read_socal(empty)
    assert "no SO-CAL dictionary" in str(info.value)


# --- SentiWordNet --------------------------------------------------------------------------------------

SWN = (
    "POS\tPosScore\tNegScore\tSynsetTerms\n"
    "a\t0.125\t0\table#1\n"
    "a\t0\t0.75\tunable#1\n"
    "n\t0.5\t0\tgood#1 goodness#1\n"
    "a\t0.75\t0\tgood#2 Well_Done#1\n"
)


def test_sentiwordnet_reduced_xz(tmp_path: Path) -> None:
    path = tmp_path / "sentiwordnet.tsv.xz"
    with lzma.open(path, "wt", encoding="utf-8") as f:
        f.write(SWN)
    lexicon = read_sentiwordnet(path)
    assert (lexicon.name, lexicon.scale) == ("sentiwordnet", (-1.0, 1.0))
    assert lexicon.scores == {"able": 0.125, "unable": -0.75, "good": 0.625, "goodness": 0.5, "well done": 0.75}


def test_sentiwordnet_original_format(tmp_path: Path) -> None:
    path = write(
        tmp_path / "SentiWordNet_3.0.0.txt",
        "# SentiWordNet 3.0\n# POS\tID\tPosScore\tNegScore\tSynsetTerms\tGloss\n"
        "a\t00001740\t0.125\t0\table#1\t(usually followed by `to') having the means\n",
    )
    assert read_sentiwordnet(path).scores == {"able": 0.125}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("a\t125\t0.375\tdrugless#1", "PosScore '125' is outside 0.0..1.0"),
        ("a\t0.75\t0.5\tgoodbad#1", "cannot exceed 1"),
        ("a\t0.5\t0\tgood", "term 'good'; expected word#sense"),
        ("a\t0.5\tgood#1", "3 fields"),
    ],
)
def test_sentiwordnet_malformed(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path / "swn.tsv", f"{SWN}{line}\n")
    with raises_at(path, 6) as info:
        read_sentiwordnet(path)
    assert problem in str(info.value)


# --- strict=False: bad lines are skipped, and each is reported in `rejected` ------------------------------


def socal_folder_with_bad_lines(tmp_path: Path) -> Path:
    folder = socal_folder(tmp_path)
    write(folder / "verb_dictionary1.11.txt", "love\t4\nput off\t-2\nhate\t-9\ndread\t-3\n")
    return folder


# name, reader input, the expected scores without the bad lines, the rejected lines and their problems
NOT_STRICT = [
    (
        "vader",
        lambda tmp: write(tmp / "vader.txt", f"{VADER}good\t5.2\t0.9\t[]\n\t1.0\t0.5\t[]\n"),
        {"good": 1.9, ":p": 1.0, "lol": 1.8, "can't stand": -2.0},
        {7: "mean valence '5.2' is outside -4.0..4.0", 8: "empty token"},
    ),
    (
        "nrc-vad",
        # a rejected line is not a word's first listing: the later "zoo" is read
        lambda tmp: write(tmp / "nrc.txt", f"{NRC}Aardvark\t0.4\t0.4\t0.4\nzoo\t1.4\t0.4\t0.4\nzoo\t0.4\t0.5\t0.6\n"),
        {"aardvark": 0.427, "altar boy": 0.434, "zoo": 0.4},
        {4: "'aardvark' is listed again (first at line 2)", 5: "valence '1.4' is outside 0.0..1.0"},
    ),
    (
        "mpqa",
        lambda tmp: write(tmp / "mpqa.tff", f"{MPQA}type=weaksubj len=1 word1=x priorpolarity=good\n"),
        {"abuse": -0.75, "brilliant": 1.0, "impassive": -0.5, "absolute": 0.0, "think": 0.0},
        {7: "priorpolarity=good"},
    ),
    (
        "socal",
        socal_folder_with_bad_lines,
        {
            "priceless": 5.0,
            "clichéd": -2.0,
            "not (bad)": 1.0,
            "favorite": 3.5,
            "irrational": -2.0,
            "masterpiece": 5.0,
            "love": 4.0,
            "dread": -3.0,
        },
        {2: "3 fields; expected a word and a score", 3: "score '-9' is outside -5.0..5.0"},
    ),
    (
        "sentiwordnet",
        # a line is rejected whole: "fine" is not kept although its own term is well-formed
        lambda tmp: write(tmp / "swn.tsv", f"{SWN}a\t125\t0.375\tdrugless#1\na\t0.5\t0\tfine#1 good\n"),
        {"able": 0.125, "unable": -0.75, "good": 0.625, "goodness": 0.5, "well done": 0.75},
        {6: "PosScore '125' is outside 0.0..1.0", 7: "term 'good'; expected word#sense"},
    ),
]


@pytest.mark.parametrize(("name", "make", "scores", "problems"), NOT_STRICT, ids=[case[0] for case in NOT_STRICT])
def test_not_strict_skips_and_reports_bad_lines(
    tmp_path: Path, name: str, make: Callable[[Path], Path], scores: dict[str, float], problems: dict[int, str]
) -> None:
    path = make(tmp_path)
    bad_file = path / "verb_dictionary1.11.txt" if path.is_dir() else path
    first = min(problems)
    with raises_at(bad_file, first) as info:
        load_lexicon(name, path)
    assert problems[first] in str(info.value)

    lexicon = load_lexicon(name, path, strict=False)
    assert lexicon.scores == scores
    assert len(lexicon.rejected) == len(problems)
    for message, (line, problem) in zip(lexicon.rejected, problems.items(), strict=True):
        assert message.startswith(f"{bad_file}:{line}: ") and problem in message, message


def test_not_strict_still_raises_for_a_wrong_file(tmp_path: Path) -> None:
    path = write(tmp_path / "NRC-VAD-Lexicon.txt", NRC.replace("Valence", "Pleasure"))
    with raises_at(path, 1):
        read_nrc_vad(path, strict=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with raises_at(empty, None):
        read_socal(empty, strict=False)


# --- load_lexicon --------------------------------------------------------------------------------------


def test_load_lexicon_dispatches_by_name(tmp_path: Path) -> None:
    paths = {
        "vader": write(tmp_path / "vader.txt", VADER),
        "nrc-vad": write(tmp_path / "nrc.txt", NRC),
        "mpqa": write(tmp_path / "mpqa.tff", MPQA),
        "socal": socal_folder(tmp_path),
        "sentiwordnet": write(tmp_path / "swn.tsv", SWN),
    }
    for name, path in paths.items():
        assert load_lexicon(name, path).name == name
    with pytest.raises(ValueError, match=r"unknown lexicon 'afinn'; expected one of \['vader', 'nrc-vad'"):
        load_lexicon("afinn", tmp_path)


# --- the real lexicons (SENTIMENTKIT_DATA) -------------------------------------------------------------


@pytest.mark.data
def test_real_vader(data_dir: Path) -> None:
    lexicon = read_vader(data_dir / "lexicons/vader/vader_lexicon.txt")
    # 7520 lines; 26 collapse: 14 keys are listed twice and 12 differ from another only in case
    assert len(lexicon) == 7494
    assert (lexicon.get("good"), lexicon.get(":P"), lexicon.get("lol")) == (1.9, 1.0, 1.8)
    assert len(read_vader_emoji(data_dir / "lexicons/vader/emoji_utf8_lexicon.txt")) == 3570


@pytest.mark.data
def test_real_nrc_vad(data_dir: Path) -> None:
    lexicon = read_nrc_vad(data_dir / "lexicons/nrc_vad/NRC-VAD-Lexicon.txt")
    assert len(lexicon) == 20007
    assert lexicon.get("zucchini") == 0.51


@pytest.mark.data
def test_real_mpqa(data_dir: Path) -> None:
    lexicon = read_mpqa(data_dir / "lexicons/mpqa_subjectivity/subjclueslen1-HLTEMNLP05.tff")
    assert len(lexicon) == 6885  # 8221 clues; words listed under several parts of speech are merged
    assert lexicon.get("abuse") == pytest.approx(-2 / 3)


@pytest.mark.data
def test_real_socal(data_dir: Path) -> None:
    lexicon = read_socal(data_dir / "lexicons/so-cal")
    assert len(lexicon) == 6091  # 6395 entries in the adj, adv, noun and verb dictionaries
    assert lexicon.get("clichéd") == -2.0
    assert len(read_socal_intensifiers(data_dir / "lexicons/so-cal")) == 215


@pytest.mark.data
def test_real_sentiwordnet(data_dir: Path) -> None:
    path = data_dir / "lexicons/sentiwordnet/sentiwordnet3_pos_reconstructed.tsv.xz"
    # This copy has one corrupt line ("a\t125\t0.375\tdrugless#1": PosScore 0.125 lost its "0.").
    with raises_at(path, 6378) as info:
        load_lexicon("sentiwordnet", path)
    assert "PosScore '125' is outside 0.0..1.0" in str(info.value)
    lexicon = load_lexicon("sentiwordnet", path, strict=False)
    assert lexicon.rejected == (f"{path}:6378: PosScore '125' is outside 0.0..1.0",)
    assert len(lexicon) == 147305  # 147306 terms; "drugless" is listed only on the rejected line
    assert "drugless" not in lexicon
    assert lexicon.get("good") == pytest.approx(0.5648148148)
