"""MMSA feature pickles: tiny files in exactly MMSA's layout, written here; padding, -inf, sums, errors, conversion."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from sentimentkit.multimodal import mmsa
from sentimentkit.multimodal.mmsa import MMSAFormatError, UntrustedPickleError, convert_mmsa, read_mmsa_pickle
from sentimentkit.multimodal.npz import load_split

T_A, T_V, N = 8, 10, 4
# per sample: (padding side, real audio frames, real vision frames)
LAYOUT = [("left", 5, 6), ("right", 3, 10), ("right", 8, 4), ("left", 0, 7)]


def _split(seed: int, layout=LAYOUT) -> dict:
    rng = np.random.default_rng(seed)
    n = len(layout)
    audio = np.zeros((n, T_A, 5), dtype=np.float32)
    vision = np.zeros((n, T_V, 20), dtype=np.float32)
    for i, (side, la, lv) in enumerate(layout):
        for array, length, t in ((audio, la, T_A), (vision, lv, T_V)):
            frames = rng.uniform(0.5, 1.5, (length, array.shape[2])).astype(np.float32)
            if side == "left":
                array[i, t - length :] = frames
            else:
                array[i, :length] = frames
    audio[0, -1, 2] = -np.inf  # a real frame with COVAREP's -inf
    return {
        "raw_text": np.array([f"clip {i}" for i in range(n)]),
        "audio": audio,
        "vision": vision,
        "text": np.zeros((n, 50, 768), dtype=np.float32),
        "text_bert": np.zeros((n, 3, 50), dtype=np.float32),
        "audio_lengths": np.array([x[1] for x in layout]),
        "vision_lengths": np.array([x[2] for x in layout]),
        "regression_labels": np.linspace(-2, 2, n).astype(np.float32),
        "annotations": np.array(["Negative", "Negative", "Positive", "Positive"][:n]),
        "id": np.array([f"vid{seed}_{i // 2}$_${i}" for i in range(n)]),
    }


def _write(path, splits: dict | None = None, **changes) -> str:
    data = splits or {"train": _split(0), "valid": _split(1), "test": _split(2)}
    for key, value in changes.items():
        data["train"][key] = value
    with open(path, "wb") as handle:
        pickle.dump(data, handle)
    return path


@pytest.fixture
def pkl(tmp_path):
    return _write(tmp_path / "features.pkl")


def test_refuses_without_trust(pkl):
    with pytest.raises(UntrustedPickleError, match="runs code.*--trust-pickle.*trust_pickle=True"):
        read_mmsa_pickle(pkl)


def test_reads_splits_strips_padding_and_sets_minus_inf_to_zero(pkl):
    splits, report = read_mmsa_pickle(pkl, trust_pickle=True)
    assert set(splits) == {"train", "validation", "test"}
    train = splits["train"]
    assert [x.audio.shape[0] for x in train] == [5, 3, 8, 0]
    assert [x.vision.shape[0] for x in train] == [6, 10, 4, 7]
    raw = _split(0)
    np.testing.assert_array_equal(train[0].vision, raw["vision"][0, T_V - 6 :])  # left padding: the last 6
    np.testing.assert_array_equal(train[1].audio, raw["audio"][1, :3])  # right padding: the first 3
    assert train[0].audio[-1, 2] == 0.0 and np.isfinite(train[0].audio).all()
    assert train[3].audio.shape == (0, 5)
    assert train[0].meta["padding"] == "left" and train[1].meta["padding"] == "right"
    assert train[1].meta["padding_vision"] == "none" and train[2].meta["padding_audio"] == "none"
    assert train[0].meta["speaker"] == "vid0_0" and train[0].id == "vid0_0$_$0"
    assert train[0].meta["annotation"] == "Negative" and train[3].label == pytest.approx(2.0)
    assert "train: audio padding left 1, right 2, none 1" in report
    assert "train: vision padding left 2, right 1, none 1" in report
    assert any("-inf in 1 clips set to 0" in line for line in report)


def test_padding_detected_without_lengths(tmp_path):
    data = {"train": _split(0), "valid": _split(1), "test": _split(2)}
    for split in data.values():
        del split["audio_lengths"], split["vision_lengths"]
    splits, _ = read_mmsa_pickle(_write(tmp_path / "aligned_like.pkl", data), trust_pickle=True)
    assert [x.vision.shape[0] for x in splits["train"]] == [6, 10, 4, 7]
    assert [x.meta["padding_vision"] for x in splits["train"]] == ["left", "none", "right", "left"]


def test_known_name_with_another_sum_warns(tmp_path):
    path = _write(tmp_path / "unaligned_50.pkl")
    _, report = read_mmsa_pickle(path, trust_pickle=True)
    warning = next(line for line in report if line.startswith("warning:"))
    assert mmsa.file_sha256(path) in warning
    assert "78e0f8b5ef8ff71558e7307848fc1fa929ecb078203f565ab22b9daab2e02524" in warning  # MOSI's published sum


def test_published_sum_is_named(pkl, monkeypatch):
    monkeypatch.setitem(mmsa.PUBLISHED_SHA256, mmsa.file_sha256(pkl), "MOSI/Processed/unaligned_50.pkl")
    _, report = read_mmsa_pickle(pkl, trust_pickle=True)
    assert "features.pkl: sha256 matches MMSA's published MOSI/Processed/unaligned_50.pkl" in report


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"regression_labels": None}, "lacks key\\(s\\) \\['regression_labels'\\]"),
        ({"audio": np.zeros((N, T_A), dtype=np.float32)}, "key 'audio' has shape \\(4, 8\\); expected \\(N, T, D\\)"),
        ({"vision": np.zeros((N, T_V, 20), dtype=np.int64)}, "key 'vision' has dtype int64; expected floats"),
        ({"audio": np.zeros((N - 1, T_A, 5), dtype=np.float32)}, "key 'audio' has shape \\(3, 8, 5\\); expected 4"),
        ({"audio_lengths": np.array([5, 3, 9, 0])}, "sample 'vid0_1\\$_\\$2' has length 9; expected 0..8"),
    ],
)
def test_malformed_files_name_split_key_and_sample(tmp_path, change, message):
    data = {"train": _split(0), "valid": _split(1), "test": _split(2)}
    for key, value in change.items():
        if value is None:
            del data["train"][key]
        else:
            data["train"][key] = value
    path = _write(tmp_path / "bad.pkl", data)
    with pytest.raises(MMSAFormatError, match=f"bad.pkl: split 'train' .*{message}"):
        read_mmsa_pickle(path, trust_pickle=True)


def test_nan_names_the_sample(tmp_path):
    vision = _split(0)["vision"]
    vision[2, 1, 4] = np.nan
    path = _write(tmp_path / "nan.pkl", vision=vision)
    with pytest.raises(MMSAFormatError, match="split 'train' key 'vision': sample 'vid0_1\\$_\\$2' has NaN or inf"):
        read_mmsa_pickle(path, trust_pickle=True)


def test_missing_split_and_non_dict(tmp_path):
    path = tmp_path / "two.pkl"
    with open(path, "wb") as handle:
        pickle.dump({"train": _split(0), "test": _split(2)}, handle)
    with pytest.raises(MMSAFormatError, match="lacks split\\(s\\) \\['valid'\\]"):
        read_mmsa_pickle(path, trust_pickle=True)
    with open(path, "wb") as handle:
        pickle.dump([1, 2], handle)
    with pytest.raises(MMSAFormatError, match="holds a list; expected a dict"):
        read_mmsa_pickle(path, trust_pickle=True)


def test_convert_once_then_reuse(pkl, tmp_path, monkeypatch):
    out = tmp_path / "converted"
    with pytest.raises(UntrustedPickleError):
        convert_mmsa(pkl, out)
    paths = convert_mmsa(pkl, out, trust_pickle=True)
    assert {k: p.name for k, p in paths.items()} == {
        "train": "train.npz",
        "validation": "valid.npz",
        "test": "test.npz",
    }
    direct, _ = read_mmsa_pickle(pkl, trust_pickle=True)
    again = load_split(out, "validation")
    for a, b in zip(direct["validation"], again, strict=True):
        np.testing.assert_array_equal(a.vision, b.vision)
        assert a.id == b.id and a.meta == dict(b.meta)

    def refuse(*args, **kwargs):
        raise AssertionError("unpickled again although the converted files are up to date")

    monkeypatch.setattr(mmsa, "read_mmsa_pickle", refuse)
    assert convert_mmsa(pkl, out) == paths  # no trust needed: nothing is unpickled
