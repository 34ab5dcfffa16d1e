from __future__ import annotations

from collections import Counter

import pytest

from sentimentkit.data.datasets import DATASETS, DataNotFoundError, carve_validation, data_dir, load_dataset
from sentimentkit.types import TextExample


def examples(n_pos: int, n_neg: int) -> list[TextExample]:
    return [TextExample(f"p{i}", "positive") for i in range(n_pos)] + [
        TextExample(f"n{i}", "negative") for i in range(n_neg)
    ]


def test_carve_is_reproducible_disjoint_and_stratified():
    data = examples(300, 100)
    train, validation = carve_validation(data, lambda x: x.label)
    again_train, again_validation = carve_validation(data, lambda x: x.label)
    assert validation == again_validation and train == again_train
    assert not {x.text for x in train} & {x.text for x in validation}
    assert len(train) + len(validation) == len(data)
    assert Counter(x.label for x in validation) == {"positive": 30, "negative": 10}
    _, other = carve_validation(data, lambda x: x.label, seed=99)
    assert other != validation


def test_grouped_carve_keeps_each_sentence_on_one_side_and_stays_near_stratified():
    from sentimentkit.types import AspectExample

    data = []
    for i in range(120):  # sentences of 1 to 3 aspects, mixed polarities
        for j in range(1 + i % 3):
            polarity = ("positive", "negative", "neutral")[(i + j) % 3]
            data.append(AspectExample(f"Sentence {i} with aspects.", f"a{j}", ((0, 8),), polarity))
    sentence = lambda x: x.text.lower()  # noqa: E731
    train, validation = carve_validation(data, lambda x: x.polarity, group=sentence)
    assert (train, validation) == carve_validation(data, lambda x: x.polarity, group=sentence)
    assert len(train) + len(validation) == len(data)
    assert not {x.text for x in train} & {x.text for x in validation}  # whole sentences
    quota = {p: round(n * 0.1) for p, n in Counter(x.polarity for x in data).items()}
    held = Counter(x.polarity for x in validation)
    assert all(held[p] <= quota[p] for p in quota) and sum(held.values()) >= sum(quota.values()) - 2
    # examples without a group are carved exactly as without `group`
    plain = examples(300, 100)
    assert carve_validation(plain, lambda x: x.label, group=lambda x: None) == carve_validation(
        plain, lambda x: x.label
    )


def test_unknown_dataset_and_split():
    with pytest.raises(KeyError, match="sst5"):
        load_dataset("sst-5", "train")
    with pytest.raises(ValueError, match="split"):
        load_dataset("sst5", "dev")


def test_missing_data_folder_says_how_to_fix(tmp_path):
    with pytest.raises(DataNotFoundError, match="SENTIMENTKIT_DATA"):
        data_dir(tmp_path / "absent")


def test_every_named_dataset_of_the_issue_is_registered():
    wanted = {
        "sst5",
        "sst5-phrases",
        "tweeteval-emotion",
        "imdb",
        "laptop14",
        "restaurant14",
        "twitter",
        "restaurant15",
        "restaurant16",
        "mosi-text",
        "ud-ewt",
    }
    assert wanted <= set(DATASETS.names())


@pytest.mark.data
def test_real_splits_have_documented_sizes(data_dir):
    assert [len(load_dataset("sst5", s, data_dir)) for s in ("train", "validation", "test")] == [8544, 1101, 2210]
    assert len(load_dataset("sst5-phrases", "train", data_dir)) == 159268
    laptop_train = load_dataset("laptop14", "train", data_dir)
    laptop_val = load_dataset("laptop14", "validation", data_dir)
    assert len(laptop_train) + len(laptop_val) == 2328
    assert abs(len(laptop_val) - 233) <= 2
    assert len(load_dataset("laptop14", "test", data_dir)) == 638
    mosi = [len(load_dataset("mosi-text", s, data_dir)) for s in ("train", "validation", "test")]
    assert mosi == [1284, 229, 686]
    assert len(load_dataset("ud-ewt", "validation", data_dir)) == 2001


@pytest.mark.data
def test_joint_absa14_is_both_domains(data_dir):
    joint = {s: load_dataset("absa14", s, data_dir) for s in ("train", "validation", "test")}
    assert len(joint["train"]) + len(joint["validation"]) == 2328 + 3608
    assert len(joint["test"]) == 638 + 1120
    train_texts = {x.text for s in ("train", "validation") for x in joint[s]}
    # the SemEval files themselves share one sentence between train and test in each domain; nothing more
    assert len(train_texts & {x.text for x in joint["test"]}) == 2
    laptop_val = {(x.text, x.aspect) for x in load_dataset("laptop14", "test", data_dir)}
    assert laptop_val <= {(x.text, x.aspect) for x in joint["test"]}


@pytest.mark.data
def test_absa_sizes_in_the_descriptions_are_the_files(data_dir):
    from sentimentkit.data.datasets import DATASETS

    for name in ("laptop14", "restaurant14", "twitter", "restaurant15", "restaurant16"):
        train = len(load_dataset(name, "train", data_dir)) + len(load_dataset(name, "validation", data_dir))
        assert f"({train} train / {len(load_dataset(name, 'test', data_dir))} test;" in DATASETS.get(name).description
