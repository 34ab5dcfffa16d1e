"""CoNLL-U: the basic tree without multiword tokens or empty nodes, errors at the line; the real UD EWT sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentimentkit.data.readers import (
    read_conllu,
)
from sentimentkit.types import DepParse

from .test_readers_base import raises_at, write

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


# --- the real benchmark files (SENTIMENTKIT_DATA) -----------------------------------------------------


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
