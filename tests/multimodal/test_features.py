"""Features from users' clips: decoding with PyAV, audio33, OpenFace CSVs, extract_clip, clip folders, the CLI.

Every clip is generated here with PyAV (a 1 s 440 Hz tone in AAC + 25 H.264 frames in an .mp4, and a .wav)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="the multimodal extra (PyAV) is not installed")
pytest.importorskip("librosa", reason="the multimodal extra (librosa) is not installed")

from sentimentkit.multimodal.clips import is_clip_folder, read_clip_folder  # noqa: E402
from sentimentkit.multimodal.features import (  # noqa: E402
    AUDIO33_NAMES,
    VISION_MISSING,
    FeatureError,
    audio33,
    decode,
    extract_clip,
    read_openface,
)

RATE = 44100


def _tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def write_mp4(path: Path, seconds: float = 1.0, fps: int = 25) -> Path:
    """An H.264 + AAC .mp4: `seconds * fps` frames of 64x48 grey levels and a 440 Hz tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=RATE)
        audio.layout = "mono"
        for i in range(int(seconds * fps)):
            image = np.full((48, 64, 3), i * 8 % 256, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        tone = _tone(seconds)
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts = RATE, start
            out.mux(audio.encode(frame))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def write_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """A 16-bit PCM .wav of a 440 Hz tone at `rate` Hz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate)
        stream.layout = "mono"
        samples = (_tone(seconds, rate) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples[None], format="s16", layout="mono")
        frame.sample_rate = rate
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


OPENFACE_HEADER = ["frame", " face_id", " timestamp", " confidence", " success"] + [f" f{i}" for i in range(709)]


def write_openface(path: Path, rows: int = 5, failed: tuple[int, ...] = (2,)) -> Path:
    """A small OpenFace 2 CSV in its own style (", " separators): feature j of frame i is i + j / 1000."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(OPENFACE_HEADER)
        for i in range(rows):
            success = 0 if i in failed else 1
            features = [f" {i + j / 1000:.3f}" for j in range(709)]
            writer.writerow([str(i + 1), " 0", f" {i * 0.04:.3f}", " 0.98", f" {success}", *features])
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("clips")
    return {"mp4": write_mp4(directory / "tone.mp4"), "wav": write_wav(directory / "tone.wav")}


def test_decode_mp4_and_wav(clips):
    decoded = decode(clips["mp4"])
    assert decoded.sample_rate == 22050 and decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert 0.95 < decoded.duration < 1.1  # AAC adds a little priming/padding
    assert decoded.frames is not None and decoded.frames.shape == (25, 48, 64, 3) and decoded.frames.dtype == np.uint8
    assert decoded.fps == 25.0
    assert decode(clips["mp4"], video=False).frames is None
    wav = decode(clips["wav"])
    assert wav.frames is None and wav.fps is None
    assert abs(wav.samples.size - 22050) <= 64  # 16 kHz resampled to 22050 Hz
    # The tone survives resampling: the spectrum peaks at 440 Hz.
    spectrum = np.abs(np.fft.rfft(wav.samples))
    assert abs(np.argmax(spectrum) * 22050 / wav.samples.size - 440) < 3


def test_decode_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        decode(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 10)
    with pytest.raises(FeatureError, match="junk.mp4"):
        decode(junk)
    silent = tmp_path / "silent.mp4"
    with av.open(str(silent), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        out.mux(video.encode(None))
    with pytest.raises(FeatureError, match=r"silent.mp4: has no audio stream"):
        decode(silent)


def test_audio33_shape_and_order(clips):
    samples = decode(clips["wav"]).samples
    features = audio33(samples)
    assert features.shape == (1 + samples.size // 512, 33) and features.dtype == np.float32
    assert 40 <= features.shape[0] <= 46  # about 43 frames per second
    assert np.isfinite(features).all()
    assert len(AUDIO33_NAMES) == 33 and AUDIO33_NAMES[0] == "zcr" and AUDIO33_NAMES[-1] == "chroma_B"
    # Column 0 is the zero-crossing rate: a 440 Hz tone crosses zero 880 times a second.
    assert features[5:-5, 0].mean() == pytest.approx(880 / 22050, rel=0.05)
    # Chroma: 440 Hz is an A, the strongest chroma bin in the middle of the clip.
    chroma = features[:, 21:]
    assert AUDIO33_NAMES[21 + int(np.argmax(chroma[20]))] == "chroma_A"
    short = audio33(samples[:300])  # shorter than one hop
    assert short.shape == (1, 33) and np.isfinite(short).all()
    with pytest.raises(ValueError, match="no samples"):
        audio33(np.zeros(0, np.float32))


def test_read_openface(tmp_path):
    path = write_openface(tmp_path / "face.csv")
    features = read_openface(path)
    assert features.shape == (5, 709) and features.dtype == np.float32
    assert features[3, 10] == pytest.approx(3.010)
    assert not features[2].any()  # success == 0: zeros
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(OPENFACE_HEADER) + "\n")
    assert read_openface(empty).shape == (0, 709)


def test_read_openface_errors(tmp_path):
    missing = tmp_path / "missing.csv"
    missing.write_text("frame, timestamp, confidence\n1, 0.0, 0.9\n")
    with pytest.raises(FeatureError, match=r"missing.csv:1: expected an OpenFace 2 header"):
        read_openface(missing)
    short = tmp_path / "short.csv"
    short.write_text(",".join(OPENFACE_HEADER[:50]) + "\n")
    with pytest.raises(FeatureError, match=r"short.csv:1: 45 feature columns after success; expected 709"):
        read_openface(short)
    bad = write_openface(tmp_path / "bad.csv", rows=3)
    lines = bad.read_text().splitlines()
    lines[2] = lines[2].replace(" 1.005", " abc", 1)
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(FeatureError, match=r"bad.csv:3: column 'f5' is not a number"):
        read_openface(bad)
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        read_openface(tmp_path / "absent.csv")


def test_extract_clip_end_to_end(clips, tmp_path):
    example = extract_clip(clips["mp4"], "what a lovely tone", clip_id="c1", label=1.5)
    assert example.id == "c1" and example.label == 1.5 and example.text == "what a lovely tone"
    assert example.audio.shape[1] == 33 and 40 <= example.audio.shape[0] <= 50
    assert example.vision.shape == (0, 709) and example.meta["vision"] == VISION_MISSING
    assert example.meta["audio"]["features"] == list(AUDIO33_NAMES) and example.meta["audio"]["hop_length"] == 512
    json.dumps(dict(example.meta))  # JSON-ready for the .npz sidecar
    with_face = extract_clip(clips["wav"], "hello", openface=write_openface(tmp_path / "face.csv"))
    assert with_face.id == "tone" and with_face.label is None
    assert with_face.vision.shape == (5, 709) and with_face.meta["vision"]["csv"] == "face.csv"
    with pytest.raises(ValueError, match="transcript is empty"):
        extract_clip(clips["wav"], "  ")


def _clip_folder(root: Path) -> Path:
    write_mp4(root / "Raw" / "vidA" / "1.mp4")
    write_wav(root / "vidA" / "2.wav")  # the flat layout is accepted too
    write_wav(root / "Raw" / "vidB" / "1.wav", seconds=0.5)
    write_openface(root / "OpenFace" / "vidA" / "1.csv", rows=25)
    (root / "label.csv").write_text(
        "video_id,clip_id,text,label,annotation,mode\n"
        "vidA,1,a happy tone,2.0,Positive,train\n"
        "vidA,2,a plain tone,0.0,Neutral,train\n"
        "vidB,1,a sad tone,-1.5,Negative,test\n"
    )
    return root


def test_clip_folder_read_twice_second_from_cache(tmp_path, monkeypatch):
    root = _clip_folder(tmp_path / "mine")
    assert is_clip_folder(root) and not is_clip_folder(tmp_path)
    train = read_clip_folder(root, "train")
    assert [x.id for x in train] == ["vidA_1", "vidA_2"] and [x.label for x in train] == [2.0, 0.0]
    assert train[0].vision.shape == (25, 709) and train[1].vision.shape == (0, 709)
    assert train[0].meta["video_id"] == "vidA" and train[0].source.endswith("label.csv:2")
    assert (root / "features" / "train.npz").is_file()

    import sentimentkit.multimodal.features as features

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were extracted again instead of read from the cache")

    monkeypatch.setattr(features, "extract_clip", no_extraction)
    again = read_clip_folder(root, "train")
    assert [x.id for x in again] == ["vidA_1", "vidA_2"]
    assert np.array_equal(again[0].audio, train[0].audio) and np.array_equal(again[0].vision, train[0].vision)
    # A changed label.csv invalidates the cache.
    monkeypatch.undo()
    (root / "label.csv").write_text((root / "label.csv").read_text().replace("2.0,Positive", "2.5,Positive"))
    assert read_clip_folder(root, "train")[0].label == 2.5
    assert [x.id for x in read_clip_folder(root, "test", cache=False)] == ["vidB_1"]


def test_clip_folder_missing_clip_names_the_row(tmp_path):
    root = _clip_folder(tmp_path / "mine")
    (root / "vidA" / "2.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"label.csv:3: no media file for video 'vidA' clip '2'"):
        read_clip_folder(root, "train")


def test_features_command(clips, tmp_path):
    import typer
    from typer.testing import CliRunner

    from sentimentkit.multimodal.cli import features
    from sentimentkit.multimodal.npz import load_examples

    app = typer.Typer()
    app.command()(features)
    out = tmp_path / "clip.npz"
    result = CliRunner().invoke(app, [str(clips["wav"]), "--transcript", "so good", "-o", str(out), "--label", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["audio"][1] == 33
    (example,) = load_examples(out)
    assert example.text == "so good" and example.label == 2.0 and example.audio.shape[1] == 33
    missing = CliRunner().invoke(app, [str(tmp_path / "none.wav"), "-t", "x", "-o", str(out)])
    assert missing.exit_code == 2 and "none.wav: no such clip file" in missing.output
