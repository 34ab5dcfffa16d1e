"""SynMOSI: determinism, eta scales only the nuisance, parts, shapes, speaker-disjoint splits, conflicts, names."""

from __future__ import annotations

import numpy as np
import pytest

from sentimentkit.multimodal.synmosi import (
    GENERATOR_VERSION,
    MAX_AUDIO_FRAMES,
    MAX_VISION_FRAMES,
    generate,
    is_synmosi,
    parse_spec,
)

HEADER = "video_id,clip_id,text,label,annotation,mode,label_by\n"


@pytest.fixture
def tiny_labels(tmp_path):
    """A MOSI-style label file with three speakers per split, one clip longer than the frame caps."""
    rows = []
    long_text = " ".join(["word"] * 120)
    for split, speakers in (("train", "abc"), ("valid", "de"), ("test", "fg")):
        for s in speakers:
            for clip in range(4):
                text = long_text if (s, clip) == ("a", 0) else "this movie was " + "really " * clip + "good"
                label = round(-3 + 6 * ((ord(s) * 7 + clip * 3) % 13) / 12, 1)
                rows.append(f"spk_{s},{clip},{text},{label},Neutral,{split},0\n")
    path = tmp_path / "label.csv"
    path.write_text(HEADER + "".join(rows))
    return path


def _arrays(examples, name):
    return [getattr(x, name) for x in examples]


def test_same_seed_same_arrays_other_seed_different(tiny_labels):
    a = generate("train", seed=3, labels_file=tiny_labels)
    b = generate("train", seed=3, labels_file=tiny_labels)
    c = generate("train", seed=4, labels_file=tiny_labels)
    for x, y, z in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(x.audio, y.audio)
        np.testing.assert_array_equal(x.vision, y.vision)
        assert not np.array_equal(x.vision, z.vision)
        assert x.label == z.label and x.text == z.text  # real labels and transcripts whatever the seed


def test_eta_scales_only_the_nuisance(tiny_labels):
    one = generate("validation", eta=1.0, labels_file=tiny_labels, with_parts=True)
    two = generate("validation", eta=2.0, labels_file=tiny_labels, with_parts=True)
    zero = generate("validation", eta=0.0, labels_file=tiny_labels, with_parts=True)
    for x1, x2, x0 in zip(one, two, zero, strict=True):
        for m in ("audio", "vision"):
            nuisance = x1.parts[f"{m}_nuisance"]
            assert np.abs(nuisance).max() > 0
            np.testing.assert_allclose(getattr(x2, m) - getattr(x1, m), nuisance, atol=1e-5)
            np.testing.assert_allclose(x2.parts[f"{m}_nuisance"], 2 * nuisance, atol=1e-5)
            np.testing.assert_array_equal(x2.parts[f"{m}_signal"], x1.parts[f"{m}_signal"])
            # removing a part removes exactly that component: x - nuisance is the eta = 0 clip
            np.testing.assert_allclose(getattr(x1, m) - nuisance, getattr(x0, m), atol=1e-5)
            assert not np.abs(x0.parts[f"{m}_nuisance"]).any()
        assert x1.meta["conflict"] == x2.meta["conflict"]


def test_signal_part_follows_valence(tiny_labels):
    clips = generate("train", labels_file=tiny_labels, with_parts=True, conflict=0.0)
    for x in clips:
        tilt = x.parts["audio_signal"][:, 4]  # spectral tilt: 0.3 v while voiced, so its sign is the label's
        if x.label and np.abs(tilt).max() > 0:
            assert np.sign(tilt[tilt != 0]).tolist() == [np.sign(x.label)] * int((tilt != 0).sum())


def test_shapes_dims_and_caps(tiny_labels):
    clips = generate("train", labels_file=tiny_labels)
    assert len(clips) == 12
    for x in clips:
        assert x.dims == (5, 20) and x.audio.dtype == np.float32 and x.vision.dtype == np.float32
        assert 1 <= len(x.audio) <= MAX_AUDIO_FRAMES and 1 <= len(x.vision) <= MAX_VISION_FRAMES
        assert x.meta["generator"] == f"synmosi-{GENERATOR_VERSION}" and x.meta["speaker"].startswith("spk_")
        assert x.meta["words"] == len(x.text.split())
    longest = max(clips, key=lambda x: x.meta["words"])
    assert (len(longest.audio), len(longest.vision)) == (MAX_AUDIO_FRAMES, MAX_VISION_FRAMES)


def test_splits_that_share_a_speaker_are_refused(tmp_path):
    path = tmp_path / "label.csv"
    path.write_text(HEADER + "v1,1,good,1.0,Positive,train,0\nv1,2,bad,-1.0,Negative,test,0\n")
    with pytest.raises(ValueError, match=r"videos \['v1'\] are in both train and test"):
        generate("train", labels_file=path)


def test_confound_is_off_by_default_and_changes_vision_only(tiny_labels):
    plain = generate("train", labels_file=tiny_labels)
    confounded = generate("train", labels_file=tiny_labels, confound=0.5)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(plain, confounded, strict=True))
    assert any(not np.array_equal(a.vision, b.vision) for a, b in zip(plain, confounded, strict=True))


def test_parse_spec_and_names():
    assert parse_spec("synmosi") == {"seed": 0, "eta": 1.0, "conflict": 0.12, "confound": 0.0}
    spec = parse_spec("synmosi:eta=2,seed=3,conflict=0,confound=0.5")
    assert spec == {"seed": 3, "eta": 2.0, "conflict": 0.0, "confound": 0.5} and isinstance(spec["seed"], int)
    for bad, message in (
        ("synmosi:noise=2", "known keys: \\['seed', 'eta', 'conflict', 'confound'\\]"),
        ("synmosi:eta", "known keys"),
        ("synmosi:eta=high", "eta='high' is not a number"),
        ("synmosi:conflict=1.5", "out of range"),
        ("synmosi:eta=-1", "out of range"),
        ("mosi", "not a SynMOSI name"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_spec(bad)
    assert is_synmosi("synmosi") and is_synmosi("synmosi:eta=2") and not is_synmosi("synmosix")
    with pytest.raises(ValueError, match="split 'valid'"):
        generate("valid")


def test_real_mosi_splits(data_dir):
    """MOSI's own split: 1284/229/686 clips, no video in two splits, about 12 % conflict clips."""
    train = generate("train", data_dir=data_dir)
    valid = generate("validation", data_dir=data_dir)
    assert (len(train), len(valid)) == (1284, 229)
    assert not {x.meta["speaker"] for x in train} & {x.meta["speaker"] for x in valid}
    rate = np.mean([x.meta["conflict"] != "none" for x in train])
    assert 0.09 <= rate <= 0.15
    assert {x.meta["conflict"] for x in train} == {"none", "A", "V", "AV"}
    assert max(len(x.audio) for x in train) == MAX_AUDIO_FRAMES
    assert np.median([len(x.vision) / len(x.audio) for x in train]) == pytest.approx(1.25, abs=0.02)
