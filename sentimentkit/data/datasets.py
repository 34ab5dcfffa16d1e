"""Named datasets: which files, which reader, which splits, and how a validation split is carved.

`load_dataset("sst5", "train")` returns a list of typed examples. Where a dataset has no validation split,
10 % of train is carved off, stratified by label, with a fixed seed; `train` then excludes those
examples, so the carve is the same for every run and the test split is never used for selection. Aspect-polarity
sets are carved by sentence: every aspect of a sentence lands on the same side, so no validation aspect is scored
on a sentence the model trained on (carved per aspect, 474 of the 800 SemEval validation aspects of absa-all shared
their sentence with training aspects, and absa-en v2 scored 0.93 on those against 0.77 on the rest).
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..labels import BINARY, EMOTION4, POLARITY3, SENTIMENT5, LabelSet
from ..registry import Registry

if TYPE_CHECKING:
    from ..types import AspectExample, TextExample

SPLITS = ("train", "validation", "test")
CARVE_FRACTION = 0.1
CARVE_SEED = 13
ASPECT_BIO = LabelSet(("O", "B-ASP", "I-ASP"))  # word tags of aspect term extraction
# The aspect-polarity sets of `absa-all`, in the order in which the first copy of a repeated pair is kept.
ABSA_ALL = ("laptop14", "restaurant14", "restaurant15", "restaurant16", "twitter")


class DataNotFoundError(FileNotFoundError):
    """The benchmark data folder or one of its files is missing."""


def data_dir(explicit: str | Path | None = None) -> Path:
    """The benchmark data folder: `explicit`, else $SENTIMENTKIT_DATA, else `../shared/data` from the current
    directory (running from a checkout that has the shared folder beside it). Never a path relative to where the
    package is installed."""
    candidates = [Path(explicit)] if explicit else []
    if not candidates and os.environ.get("SENTIMENTKIT_DATA"):
        candidates = [Path(os.environ["SENTIMENTKIT_DATA"])]
    if not candidates:
        candidates = [Path.cwd().parent / "shared" / "data"]
    for path in candidates:
        if path.is_dir():
            return path
    raise DataNotFoundError(
        f"benchmark data folder not found (looked in {', '.join(map(str, candidates))}); "
        "set SENTIMENTKIT_DATA or pass --data-dir"
    )


# A dataset's label scheme -> the task (a TASKS name) that trains and scores on it.
SCHEME_TASKS = {
    "sentiment-5": "text-classification.v1",
    "sentiment-2": "text-classification.v1",
    "emotion-4": "text-classification.v1",
    "regression": "text-classification.v1",  # MOSI transcripts: the 3-way polarity of the score
    "polarity-3": "text-classification.v1",  # sentence polarity (negative / neutral / positive)
    "aspect-polarity": "aspect-polarity.v1",
    "aspect-extraction": "aspect-extraction.v1",
}


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset. `read(split, root)` returns examples for "train" | "validation" | "test".

    scheme: what its labels are ("sentiment-5", "aspect-polarity", "regression" ...); task: the TASKS name that
    trains on it (None: no model task, e.g. the treebank the parser trains on). `carve` means the source has no
    validation split: validation is carved from the full train split.
    """

    name: str
    scheme: str
    labels: LabelSet | None
    read: Callable[[str, Path], list[Any]]
    carve: bool
    description: str

    @property
    def task(self) -> str | None:
        return SCHEME_TASKS.get(self.scheme)


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def load_dataset(name: str, split: str, root: str | Path | None = None) -> list[Any]:
    """Examples of one split of a named dataset."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {SPLITS}")
    spec = DATASETS.get(name)
    base = data_dir(root)
    if not spec.carve or split == "test":
        return spec.read(split, base)
    train, validation = carve_validation(spec.read("train", base), _label_of, group=_sentence_of)
    return train if split == "train" else validation


def _label_of(example: Any) -> Any:
    for field in ("label", "polarity"):
        if hasattr(example, field):
            return getattr(example, field)
    return None


def _sentence_of(example: Any) -> str | None:
    """The carve's group of an aspect instance: its sentence, lower-cased, runs of whitespace collapsed (the
    files differ in case and spacing). Other examples are their own group."""
    if hasattr(example, "aspect"):
        return " ".join(example.text.lower().split())
    return None


def carve_validation(
    examples: Sequence[Any],
    key: Callable[[Any], Any],
    fraction: float = CARVE_FRACTION,
    seed: int = CARVE_SEED,
    group: Callable[[Any], Any] | None = None,
) -> tuple[list[Any], list[Any]]:
    """Split off `fraction` of examples per label (stratified), reproducibly. Returns (train, validation).

    With `group` (example -> a group key, or None for an example alone), examples of one group stay together:
    groups are visited in a seeded random order and a group is held out while it fits within every one of its
    labels' quotas (round(fraction * count) per label), so the carve is as close to stratified as whole groups
    allow. Without groups (or when no example has one) the carve is the plain per-label one."""
    keys = [group(x) for x in examples] if group is not None else None
    if keys is not None and any(k is not None for k in keys):
        return _carve_groups(examples, key, keys, fraction, seed)
    by_label: dict[Any, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_label[key(example)].append(i)
    rng = random.Random(seed)
    held: set[int] = set()
    for label in sorted(by_label, key=str):
        indices = by_label[label]
        rng.shuffle(indices)
        held.update(indices[: round(len(indices) * fraction)])
    train = [x for i, x in enumerate(examples) if i not in held]
    validation = [x for i, x in enumerate(examples) if i in held]
    return train, validation


def _carve_groups(
    examples: Sequence[Any], key: Callable[[Any], Any], keys: Sequence[Any], fraction: float, seed: int
) -> tuple[list[Any], list[Any]]:
    members: dict[Any, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        members[("group", k) if k is not None else ("alone", i)].append(i)
    labels = [key(x) for x in examples]
    total: dict[Any, int] = defaultdict(int)
    for label in labels:
        total[label] += 1
    quota = {label: round(n * fraction) for label, n in total.items()}
    taken: dict[Any, int] = defaultdict(int)
    order = list(members)
    random.Random(seed).shuffle(order)
    held: set[int] = set()
    for g in order:
        need: dict[Any, int] = defaultdict(int)
        for i in members[g]:
            need[labels[i]] += 1
        if all(taken[label] + n <= quota[label] for label, n in need.items()):
            held.update(members[g])
            for label, n in need.items():
                taken[label] += n
        if all(taken[label] == quota[label] for label in quota):
            break
    train = [x for i, x in enumerate(examples) if i not in held]
    validation = [x for i, x in enumerate(examples) if i in held]
    return train, validation


def _file(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.exists():
        raise DataNotFoundError(f"{path}: missing from the data folder {root}")
    return path


# --- the datasets ---------------------------------------------------------------------------------


def _sst(phrases: bool) -> Callable[[str, Path], list[Any]]:
    files = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}

    def read(split: str, root: Path) -> list[Any]:
        from .readers import read_sst_trees

        return list(read_sst_trees(_file(root, f"sst5/ptb_trees/{files[split]}"), phrases=phrases))

    return read


def _tweeteval(split: str, root: Path) -> list[Any]:
    from .readers import read_tweeteval

    name = {"train": "train", "validation": "val", "test": "test"}[split]
    folder = "tweeteval/emotion"
    return list(
        read_tweeteval(
            _file(root, f"{folder}/{name}_text.txt"),
            _file(root, f"{folder}/{name}_labels.txt"),
            _file(root, f"{folder}/mapping.txt"),
        )
    )


# TweetEval emotion -> polarity: joy and optimism are positive, anger and sadness negative (no neutral class).
EMOTION_POLARITY = {"anger": "negative", "joy": "positive", "optimism": "positive", "sadness": "negative"}


def _tweeteval_polarity(split: str, root: Path) -> list[Any]:
    return [replace(x, label=EMOTION_POLARITY[x.label]) for x in _tweeteval(split, root)]


def _imdb(split: str, root: Path) -> list[Any]:
    from .readers import read_imdb_csv

    return list(read_imdb_csv(_file(root, f"imdb/{split}.csv.xz")))


def _absa(train: str, test: str) -> Callable[[str, Path], list[Any]]:
    def read(split: str, root: Path) -> list[Any]:
        from .readers import read_absa_lines

        return list(read_absa_lines(_file(root, train if split == "train" else test)))

    return read


def sentence_polarities(aspects: Iterable[AspectExample]) -> tuple[list[TextExample], list[str]]:
    """Sentence-level polarity from aspect instances: (kept sentences, texts of the mixed ones left out).

    Instances belong to one sentence when their full texts (aspect put back) are equal once runs of whitespace
    are collapsed (the 3-line files differ in spacing around some aspects, e.g. "delete  key"). A sentence whose
    aspects all have one polarity gets it; one whose aspects disagree is left out. Sentences come once each, in
    order of first occurrence, with the collapsed text and the id and source of their first instance.
    """
    from ..types import TextExample

    groups: dict[str, list[AspectExample]] = defaultdict(list)
    for aspect in aspects:
        groups[" ".join(aspect.text.split())].append(aspect)
    kept, mixed = [], []
    for text, instances in groups.items():
        polarities = {x.polarity for x in instances}
        if len(polarities) > 1:
            mixed.append(text)
            continue
        first = instances[0]
        kept.append(TextExample(text=text, label=polarities.pop(), id=first.id, source=first.source))
    return kept, mixed


def _absa_sentences(train: str, test: str) -> Callable[[str, Path], list[Any]]:
    def read(split: str, root: Path) -> list[Any]:
        from .readers import read_absa_lines

        return sentence_polarities(read_absa_lines(_file(root, train if split == "train" else test)))[0]

    return read


def _pair(example: AspectExample) -> tuple[str, str]:
    """An aspect instance's identity across files: its sentence and aspect, lower-cased (the 2015 and 2016 files are
    lower-cased, 2014's are not), runs of whitespace collapsed."""
    return " ".join(example.text.lower().split()), " ".join(example.aspect.lower().split())


def _absa_union(names: Sequence[str]) -> Callable[[str, Path], list[Any]]:
    """Several aspect-polarity sets as one: each set's own splits (its own validation carve), in order.

    The files overlap (restaurant16's train file is restaurant15's train and test files, and restaurant15's repeats
    part of restaurant14's), so train and validation keep each (sentence, aspect) `_pair` once, the first time it
    comes, and never a sentence that is in a test file of the union; train also leaves out every sentence of every
    set's carved validation (whole sentences: a file may annotate one more aspect of a sentence than another file
    does). Test is the union of the test files as they are: each set is scored on its own test file.
    """

    def read(split: str, root: Path) -> list[Any]:
        test = [x for name in names for x in load_dataset(name, "test", root)]
        if split == "test":
            return test
        excluded = {_sentence_of(x) for x in test}
        if split == "train":
            excluded |= {_sentence_of(x) for name in names for x in load_dataset(name, "validation", root)}
        seen: set[tuple[str, str]] = set()
        kept = []
        for name in names:
            for example in load_dataset(name, split, root):
                if _sentence_of(example) not in excluded and _pair(example) not in seen:
                    seen.add(_pair(example))
                    kept.append(example)
        return kept

    return read


def _corenlp(folder: str) -> Callable[[str, Path], list[Any]]:
    def read(split: str, root: Path) -> list[Any]:
        from .readers import absa_examples, read_corenlp_json

        name = "test" if split == "test" else "train"
        sentences = read_corenlp_json(_file(root, f"absa/parsed_corenlp/{folder}/{name}.json.xz"))
        return [x for sentence in sentences for x in absa_examples(sentence)]

    return read


def _semeval_xml(*files: tuple[str, str]) -> Callable[[str, Path], list[Any]]:
    """Sentences of SemEval-2014 XML (train, test) file pairs, concatenated in order."""

    def read(split: str, root: Path) -> list[Any]:
        from .readers import read_semeval_xml

        folder = "absa/semeval14_xml"
        return [
            x
            for train, test in files
            for x in read_semeval_xml(_file(root, f"{folder}/{test if split == 'test' else train}"))
        ]

    return read


def _mosi(split: str, root: Path) -> list[Any]:
    from ..types import TextExample
    from .readers import read_mosi_labels

    mode = {"train": "train", "validation": "valid", "test": "test"}[split]
    return [
        TextExample(text=x.text, score=x.score, label=_mosi_polarity(x.score), id=x.id, source=x.source)
        for x in read_mosi_labels(_file(root, "mosi/MOSI-label.csv"))
        if x.split == mode
    ]


def _mosi_polarity(score: float | None) -> str | None:
    if score is None:
        return None
    return "negative" if score < 0 else "positive" if score > 0 else "neutral"


def _ewt(split: str, root: Path) -> list[Any]:
    from .readers import read_conllu

    name = {"train": "train", "validation": "dev", "test": "test"}[split]
    return list(read_conllu(_file(root, f"ud_english_ewt/en_ewt-ud-{name}.conllu.xz")))


def _add(name: str, scheme: str, labels: LabelSet | None, read, carve: bool, description: str) -> None:
    DATASETS.add(name, DatasetSpec(name, scheme, labels, read, carve, description))


def _register() -> None:
    """Declare every named dataset (a function, so that its loop variables stay local)."""
    _add("sst5", "sentiment-5", SENTIMENT5, _sst(False), False, "SST-5 sentences (8544/1101/2210)")
    _add(
        "sst5-phrases",
        "sentiment-5",
        SENTIMENT5,
        _sst(True),
        False,
        "SST-5, every distinct phrase of each split's trees (train 159k)",
    )
    _add("tweeteval-emotion", "emotion-4", EMOTION4, _tweeteval, False, "TweetEval emotion (3257/374/1421)")
    _add(
        "tweeteval-polarity",
        "sentiment-2",
        BINARY,
        _tweeteval_polarity,
        False,
        "TweetEval emotion as polarity: joy, optimism -> positive; anger, sadness -> negative (3257/374/1421)",
    )
    _add("imdb", "sentiment-2", BINARY, _imdb, True, "IMDb reviews (25000/25000; validation carved from train)")
    absa_sizes = {  # (train incl. the carved validation, test) aspect instances in the shared files
        "laptop14": (2328, 638),
        "restaurant14": (3608, 1120),
        "twitter": (6248, 692),
        "restaurant15": (1204, 542),
        "restaurant16": (1748, 616),
    }
    absa_sets = {
        "laptop14": ("absa/semeval14/Laptops_Train.xml.seg", "absa/semeval14/Laptops_Test_Gold.xml.seg"),
        "restaurant14": (
            "absa/semeval14/Restaurants_Train.xml.seg",
            "absa/semeval14/Restaurants_Test_Gold.xml.seg",
        ),
        "twitter": ("absa/twitter/train.raw", "absa/twitter/test.raw"),
        "restaurant15": ("absa/semeval15/restaurant_train.raw", "absa/semeval15/restaurant_test.raw"),
        "restaurant16": ("absa/semeval16/restaurant_train.raw", "absa/semeval16/restaurant_test.raw"),
    }
    for name, (train, test) in absa_sets.items():
        _add(
            name,
            "aspect-polarity",
            POLARITY3,
            _absa(train, test),
            True,
            f"{name} aspect polarity, ABSA-PyTorch 3-line split ({absa_sizes[name][0]} train / "
            f"{absa_sizes[name][1]} test; validation carved from train)",
        )
    # Sentence polarity from the same files (issue 16): a sentence gets its aspects' polarity when they all agree
    # and is left out when they disagree (`sentence_polarities`). The carve is stratified over sentences, so no
    # sentence is in both train and validation. Measured on the shared files: (train, validation, test) sentences
    # kept; (train file, test file) mixed sentences left out.
    sentence_counts = {
        "laptop14": ((1188, 132, 380), (161, 38)),
        "restaurant14": ((1521, 169, 530), (319, 80)),
        "twitter": ((5618, 624, 692), (0, 0)),  # one target per tweet, nothing to disagree
        "restaurant15": ((721, 80, 372), (45, 35)),
        "restaurant16": ((1057, 117, 408), (79, 19)),
    }
    for name, (train, test) in absa_sets.items():
        (n_train, n_val, n_test), (mixed_train, mixed_test) = sentence_counts[name]
        _add(
            f"{name}-sentences",
            "polarity-3",
            POLARITY3,
            _absa_sentences(train, test),
            True,
            f"{name} sentence polarity from the aspect file: all aspects agree -> that polarity, else left out "
            f"({n_train}/{n_val}/{n_test} sentences; {mixed_train} mixed left out of train+validation, "
            f"{mixed_test} of test; validation carved from train by sentence)",
        )
    # The shipped absa-en's polarity data: the two SemEval-2014 domains together (test: both; score each alone).
    absa14 = (_absa(*absa_sets["laptop14"]), _absa(*absa_sets["restaurant14"]))
    _add(
        "absa14",
        "aspect-polarity",
        POLARITY3,
        lambda split, root: [x for read in absa14 for x in read(split, root)],
        True,
        "laptop14 + restaurant14 aspect polarity, 3-line split (validation carved from the joint train)",
    )
    # absa-en v2's polarity data: every aspect-polarity set above, each with its own carve (so a set's validation
    # examples are from its own carved validation) and test = the union of the test files (score each alone).
    _add(
        "absa-all",
        "aspect-polarity",
        POLARITY3,
        _absa_union(ABSA_ALL),
        False,
        "laptop14 + restaurant14 + restaurant15 + restaurant16 + twitter aspect polarity, each set's own carve "
        "(whole sentences), every (sentence, aspect) once, no sentence of a test file in train or validation and "
        "none of a validation carve in train (restaurant16's train file "
        "holds restaurant15's train and test files; 11135 train / 1414 validation / 3608 test)",
    )
    _add(
        "mosi-text",
        "regression",
        POLARITY3,
        _mosi,
        False,
        "CMU-MOSI transcripts, score in [-3, 3] (1284/229/686)",
    )
    _add("ud-ewt", "dependency-parsing", None, _ewt, False, "UD English EWT v2.16 (12544/2001/2077)")
    for name, folder in (("laptop14-corenlp", "Laptops"), ("restaurant14-corenlp", "Restaurants")):
        _add(
            name,
            "aspect-polarity",
            POLARITY3,
            _corenlp(folder),
            True,
            f"{name}: the GCN papers' split with Stanford CoreNLP parses (validation carved from train)",
        )
    # Aspect term extraction: every sentence (those without terms too) with all its terms, conflict included.
    # Sentences have no label, so the validation carve is a plain random 10 % with the fixed seed.
    laptop_xml = ("Laptop_Train_v2.xml", "Laptops_Test_Gold.xml")
    restaurant_xml = ("Restaurants_Train_v2.xml", "Restaurants_Test_Gold.xml")
    for name, files, about in (
        ("laptop14-ate", (laptop_xml,), "SemEval-2014 laptops (3045/800 sentences)"),
        ("restaurant14-ate", (restaurant_xml,), "SemEval-2014 restaurants (3041/800 sentences)"),
        ("absa14-ate", (laptop_xml, restaurant_xml), "laptops + restaurants (test: both; score each alone)"),
    ):
        _add(
            name,
            "aspect-extraction",
            ASPECT_BIO,
            _semeval_xml(*files),
            True,
            f"{about}: aspect term extraction from the XML (validation carved from train)",
        )


_register()

# The sentence-polarity datasets built for retraining the document model `sentiment-en` (issue 16): named
# text-classification datasets whose labels are polarities (POLARITY3; BINARY for TweetEval, which has no neutral).
POLARITY_SOURCES = (
    "laptop14-sentences",
    "restaurant14-sentences",
    "restaurant15-sentences",
    "restaurant16-sentences",
    "twitter-sentences",
    "tweeteval-polarity",
)
