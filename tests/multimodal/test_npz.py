"""The safe multimodal format: round trip, and an error that names the problem for every broken rule."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from sentimentkit.multimodal.npz import MultimodalFormatError, load_examples, load_split, save_examples, sidecar_path
from sentimentkit.types import MultimodalExample


def _examples() -> list[MultimodalExample]:
    rng = np.random.default_rng(0)
    out = []
    for i, (t_a, t_v) in enumerate([(7, 9), (0, 4), (3, 0)]):
        audio = rng.standard_normal((t_a, 5)).astype(np.float32)
        vision = rng.standard_normal((t_v, 20)).astype(np.float32)
        out.append(
            MultimodalExample(
                text=f"clip {i} é",
                audio=audio,
                vision=vision,
                label=None if i == 1 else float(i) - 1.5,
                id=f"vid_{i}",
                meta={"speaker": "vid", "conflict": ["none", "A", "V"][i]},
                parts={"audio_signal": audio * 0.5, "vision_signal": vision * 0.25},
            )
        )
    return out


def _rewrite(path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as the file, with a sidecar whose sums match, so that a check after the sha runs."""
    np.savez(path, **arrays)
    side = json.loads(sidecar_path(path).read_text())
    side["sha256"] = {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for k, v in arrays.items()}
    sidecar_path(path).write_text(json.dumps(side))


def _arrays(path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture
def saved(tmp_path):
    return save_examples(_examples(), tmp_path / "train.npz", source="unit test")


def test_round_trip_keeps_every_field(saved):
    loaded = load_examples(saved)
    assert len(loaded) == 3
    for original, back in zip(_examples(), loaded, strict=True):
        assert back.text == original.text and back.id == original.id and back.label == original.label
        np.testing.assert_array_equal(back.audio, original.audio)
        np.testing.assert_array_equal(back.vision, original.vision)
        assert back.audio.dtype == np.float32 and back.vision.shape[1] == 20
        assert dict(back.meta) == dict(original.meta)
        assert set(back.parts) == {"audio_signal", "vision_signal"}
        np.testing.assert_array_equal(back.parts["vision_signal"], original.parts["vision_signal"])
    assert loaded[1].audio.shape == (0, 5) and loaded[2].vision.shape == (0, 20)
    assert loaded[0].source == f"{saved}#0"
    side = json.loads(sidecar_path(saved).read_text())
    assert side["format"] == "sentimentkit-multimodal" and side["dims"] == [5, 20] and side["source"] == "unit test"


def test_load_split_accepts_valid_and_validation(tmp_path):
    save_examples(_examples(), tmp_path / "validation.npz")
    assert len(load_split(tmp_path, "validation")) == 3
    with pytest.raises(FileNotFoundError, match=r"test\.npz"):
        load_split(tmp_path, "test")
    with pytest.raises(ValueError, match="split 'dev'"):
        load_split(tmp_path, "dev")


def test_save_refuses_empty_lists_and_other_suffixes(tmp_path):
    with pytest.raises(ValueError, match="no examples"):
        save_examples([], tmp_path / "x.npz")
    with pytest.raises(ValueError, match=r"must end in \.npz"):
        save_examples(_examples(), tmp_path / "x.npy")


def test_missing_sidecar(saved):
    sidecar_path(saved).unlink()
    with pytest.raises(MultimodalFormatError, match=r"train\.json is missing"):
        load_examples(saved)


def test_missing_array_key(saved):
    arrays = _arrays(saved)
    del arrays["vision_offsets"]
    _rewrite(saved, arrays)
    with pytest.raises(MultimodalFormatError, match="'vision_offsets' is missing"):
        load_examples(saved)


def test_changed_file_fails_the_sha(saved):
    arrays = _arrays(saved)
    arrays["audio"][0, 0] += 1.0
    np.savez(saved, **arrays)
    with pytest.raises(MultimodalFormatError, match="'audio' does not match the sha256.*changed after it was written"):
        load_examples(saved)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("audio", lambda a: a.astype(np.float64), "audio has shape .* float64; expected .* float32"),
        ("vision", lambda a: a.reshape(-1), "vision has shape .*; expected \\(frames, features\\)"),
        ("audio_offsets", lambda a: a.astype(np.int32), "audio_offsets is 1-D int32; expected \\(N\\+1,\\) int64"),
        ("audio_offsets", lambda a: a[:-1], "audio_offsets has 3 entries; expected n \\+ 1 = 4"),
        ("vision_offsets", lambda a: a + 1, "vision_offsets runs from 1 to .*; expected 0 to"),
        ("labels", lambda a: a.astype(np.float32), "labels has shape .* float32; expected \\(3,\\) float64"),
    ],
)
def test_wrong_dtype_shape_or_offsets(saved, key, value, message):
    arrays = _arrays(saved)
    arrays[key] = value(arrays[key])
    _rewrite(saved, arrays)
    with pytest.raises(MultimodalFormatError, match=message):
        load_examples(saved)


def test_offsets_that_decrease(saved):
    arrays = _arrays(saved)
    arrays["audio_offsets"] = np.array([0, 8, 7, 10], dtype=np.int64)
    _rewrite(saved, arrays)
    with pytest.raises(MultimodalFormatError, match="audio_offsets decreases at entry 2"):
        load_examples(saved)


def test_nan_names_the_clip(saved):
    arrays = _arrays(saved)
    arrays["vision"][10, 3] = np.nan  # clip 1 starts at frame 9
    _rewrite(saved, arrays)
    with pytest.raises(MultimodalFormatError, match="vision has NaN .* clip 1 \\(id 'vid_1', frame 1\\)"):
        load_examples(saved)


def test_infinite_label(saved):
    arrays = _arrays(saved)
    arrays["labels"][2] = np.inf
    _rewrite(saved, arrays)
    with pytest.raises(MultimodalFormatError, match="labels is infinite for clip 2 \\(id 'vid_2'\\)"):
        load_examples(saved)


def test_dims_must_match_the_sidecar(saved):
    side = json.loads(sidecar_path(saved).read_text())
    side["dims"] = [5, 35]
    sidecar_path(saved).write_text(json.dumps(side))
    with pytest.raises(MultimodalFormatError, match="vision has 20 features per frame; the sidecar's dims say 35"):
        load_examples(saved)


def test_sidecar_with_wrong_counts_or_format(saved):
    side = json.loads(sidecar_path(saved).read_text())
    sidecar_path(saved).write_text(json.dumps({**side, "ids": ["a"]}))
    with pytest.raises(MultimodalFormatError, match="key 'ids' has 1 entries; expected a list of n = 3"):
        load_examples(saved)
    sidecar_path(saved).write_text(json.dumps({**side, "version": 2}))
    with pytest.raises(MultimodalFormatError, match="version 2; expected 'sentimentkit-multimodal' version 1"):
        load_examples(saved)


def test_object_arrays_are_refused(saved):
    arrays = _arrays(saved)
    arrays["labels"] = np.array([None, 1.0, 2.0], dtype=object)
    np.savez(saved, **arrays)  # a pickle inside the npz: allow_pickle=False must refuse it
    with pytest.raises(MultimodalFormatError, match="not a readable array file of plain numbers"):
        load_examples(saved)


def test_unknown_array_key(saved):
    arrays = _arrays(saved)
    arrays["extra"] = np.zeros(3)
    _rewrite(saved, arrays)
    with pytest.raises(MultimodalFormatError, match=r"unexpected array key\(s\) \['extra'\]"):
        load_examples(saved)
