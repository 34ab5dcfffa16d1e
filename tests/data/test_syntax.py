"""Dependency parsing: the shipped parser gives valid trees from words and raw text, caches per sentence, fails
clearly on a missing pipeline; the training config trains on a handful of sentences, saves, reloads, parses the same."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sentimentkit.data import syntax
from sentimentkit.data.syntax import ParserNotFoundError, load_parser, parse_from_doc
from sentimentkit.types import DepParse

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "parser-ewt.cfg"


def assert_tree(parse: DepParse) -> None:
    """Exactly one root, heads in 0..n, and every word reaches the root (no cycles)."""
    n = len(parse.words)
    assert n > 0
    assert [h for h in parse.heads if h == 0] == [0]
    assert parse.deprels[parse.heads.index(0)] == "root"
    assert all(0 <= h <= n for h in parse.heads)
    for i in range(1, n + 1):
        seen, node = set(), i
        while node != 0:
            assert node not in seen, f"cycle through word {node} in {parse}"
            seen.add(node)
            node = parse.heads[node - 1]
    assert len(parse.pos) == len(parse.upos) == n


def test_no_spacy_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "sentimentkit\[absa\]"'):
        syntax.resolve_parser("en_core_web_sm")


@pytest.fixture(scope="module")
def parser() -> syntax.Parser:
    pytest.importorskip("spacy", reason='dependency parsing needs spaCy: pip install "sentimentkit[absa]"')
    return load_parser()


def test_shipped_parser_parses_words(parser) -> None:
    words = ["The", "battery", "life", "of", "this", "laptop", "is", "great", "!"]
    parse = parser.parse(words)
    assert parse.words == tuple(words)
    assert_tree(parse)
    assert parse.heads[7] == 0  # "great" heads the copular clause, as UD does
    assert (parse.heads[1], parse.heads[2], parse.deprels[2]) == (3, 8, "nsubj")  # battery <- life <- great
    assert parse.pos[7] == "JJ" and parse.upos[7] == "ADJ"


def test_shipped_parser_parses_raw_text_as_one_tree(parser) -> None:
    parse = parser.parse("The food wasn't bad.  The service, however, was slow!")
    assert parse.words[:5] == ("The", "food", "was", "n't", "bad")  # spaCy's tokenizer; runs of spaces dropped
    assert parse.text == "The food wasn't bad.  The service, however, was slow!"
    assert_tree(parse)


def test_cache_returns_the_same_object(parser) -> None:
    words = ("Great", "pizza", "but", "rude", "waiters", ".")
    first = parser.parse(list(words))
    assert parser.parse(words) is first
    many = parser.parse_many([words, ["Nice", "view"], words])
    assert many[0] is first and many[2] is first
    assert_tree(many[1])
    assert parser.parse("Nice view") is not many[1]  # raw text and word lists are different keys


def test_cache_is_bounded() -> None:
    pytest.importorskip("spacy")
    small = load_parser(cache_size=2)
    first = small.parse(["one"])
    small.parse_many([["two"], ["three"]])
    assert small.parse(["one"]) is not first  # evicted, parsed again


def test_module_functions_share_one_parser(parser) -> None:
    assert syntax.parse(["I", "like", "it"]) is syntax.parse_many([("I", "like", "it")])[0]


def test_bad_words_are_refused(parser) -> None:
    with pytest.raises(ValueError, match="word 1 .* expected a non-empty string"):
        parser.parse(["good", " "])


def test_missing_pipeline_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    with pytest.raises(ParserNotFoundError, match="no spaCy pipeline named 'en_no_such_pipeline'.*parser-en"):
        load_parser("en_no_such_pipeline")
    with pytest.raises(ParserNotFoundError, match="without config.cfg"):
        load_parser(str(tmp_path))


def test_a_pipeline_without_parser_is_refused(tmp_path: Path) -> None:
    spacy = pytest.importorskip("spacy")
    spacy.blank("en").to_disk(tmp_path / "blank")
    with pytest.raises(ParserNotFoundError, match="has no dependency parser"):
        load_parser(str(tmp_path / "blank"))


def test_doc_conversion_round_trip_and_extra_roots() -> None:
    spacy = pytest.importorskip("spacy")
    from spacy.tokens import Doc

    gold = SENTENCES[0]
    doc = syntax.doc_from_parse(spacy.blank("en").vocab, gold)
    assert doc[gold.heads.index(0)].dep_ == "ROOT"
    assert parse_from_doc(doc) == gold
    # two sentences in one Doc: the second root is attached to the first, so the result is one tree
    two = Doc(spacy.blank("en").vocab, words=["Good", ".", "Bad", "."], heads=[0, 0, 2, 2], deps=["ROOT", "punct"] * 2)
    assert parse_from_doc(two).heads == (0, 1, 1, 3)
    assert parse_from_doc(two).deprels == ("root", "punct", "parataxis", "punct")


# --- training: the shipped config, tiny sizes, a handful of sentences written here --------------------------------


def _sentences() -> list[DepParse]:
    """20 small gold trees in UD style: copular sentences and transitive clauses."""
    out = []
    for noun, adj in [("food", "great"), ("screen", "bright"), ("staff", "rude"), ("battery", "weak"),
                      ("price", "fair"), ("keyboard", "loud"), ("pasta", "cold"), ("room", "clean"),
                      ("waiter", "friendly"), ("fan", "noisy")]:  # fmt: skip
        out.append(
            DepParse(
                words=("The", noun, "is", adj, "."),
                heads=(2, 4, 4, 0, 4),
                deprels=("det", "nsubj", "cop", "root", "punct"),
                pos=("DT", "NN", "VBZ", "JJ", "."),
                upos=("DET", "NOUN", "AUX", "ADJ", "PUNCT"),
            )
        )
    for verb, noun in [("love", "menu"), ("hate", "mouse"), ("like", "desserts"), ("need", "charger"),
                       ("recommend", "place"), ("returned", "laptop"), ("ordered", "soup"), ("want", "refund"),
                       ("enjoyed", "music"), ("bought", "tablet")]:  # fmt: skip
        out.append(
            DepParse(
                words=("I", verb, "the", noun, "."),
                heads=(2, 0, 4, 2, 2),
                deprels=("nsubj", "root", "det", "obj", "punct"),
                pos=("PRP", "VBP", "DT", "NN", "."),
                upos=("PRON", "VERB", "DET", "NOUN", "PUNCT"),
            )
        )
    return out


SENTENCES = _sentences()
TINY = {
    "components.tok2vec.model.encode.width": 32,
    "components.tok2vec.model.encode.depth": 1,
    "components.tok2vec.model.embed.rows": [500, 100, 100, 100],
    "components.parser.model.hidden_width": 32,
    "components.parser.min_action_freq": 1,
    "training.max_steps": 60,
    "training.eval_frequency": 20,
    "training.batcher.size.start": 100,
    "training.batcher.size.stop": 100,
    "training.dropout": 0.0,
    "training.optimizer.learn_rate": 0.01,
}


def test_config_trains_saves_reloads(tmp_path: Path) -> None:
    spacy = pytest.importorskip("spacy")
    from spacy.cli.train import train
    from spacy.tokens import DocBin

    vocab = spacy.blank("en").vocab
    DocBin(docs=[syntax.doc_from_parse(vocab, s) for s in SENTENCES]).to_disk(tmp_path / "train.spacy")
    paths = {"paths.train": str(tmp_path / "train.spacy"), "paths.dev": str(tmp_path / "train.spacy")}
    train(CONFIG, tmp_path / "out", use_gpu=-1, overrides={**TINY, **paths})

    trained = load_parser(str(tmp_path / "out" / "model-best"))
    assert trained.nlp.pipe_names == ["tok2vec", "tagger", "morphologizer", "parser"]
    scores = trained.nlp.meta["performance"]
    assert scores["dep_uas"] > 0.9 and scores["tag_acc"] > 0.9 and scores["pos_acc"] > 0.9  # it learned its data
    words = [s.words for s in SENTENCES]
    predicted = trained.parse_many(words)
    assert sum(p.heads == s.heads for p, s in zip(predicted, SENTENCES, strict=True)) >= 16
    for p in predicted:
        assert_tree(p)

    trained.nlp.to_disk(tmp_path / "saved")
    assert load_parser(str(tmp_path / "saved")).parse_many(words) == predicted
