"""Face landmarks: landmark20 on synthetic faces, the setup errors, subsampling, the clip-folder switch, and (with
SENTIMENTKIT_LANDMARKS_PYTHON set) MediaPipe itself on a generated .mp4 of a drawn face.

The synthetic faces are MediaPipe's canonical face (cm, y up, z towards the viewer) at the points landmark20 reads,
rotated, scaled and placed into pixel coordinates as the worker writes them (y down, z smaller = nearer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from sentimentkit.multimodal.features import FeatureError
from sentimentkit.multimodal.landmarks import (
    CANONICAL,
    LANDMARK20_NAMES,
    LANDMARKS,
    POINTS,
    PYTHON_ENV,
    WORKER,
    face_landmarks,
    landmark20,
    landmarks_python,
    subsample,
)

# Canonical-face coordinates of the non-rigid points landmark20 reads (canonical_face_model.obj, cm).
FACE_POINTS = {
    61: (-2.456206, -4.342621, 4.283884),
    291: (2.456206, -4.342621, 4.283884),
    13: (0.0, -3.994436, 5.219482),
    14: (0.0, -4.5424, 5.404754),
    0: (0.0, -3.406404, 5.979507),
    17: (0.0, -5.365123, 5.535441),
    159: (-3.177186, 2.964136, 3.876973),
    145: (-3.177186, 2.294265, 3.775704),
    386: (3.177186, 2.964136, 3.876973),
    374: (3.177186, 2.294265, 3.775704),
    160: (-3.670075, 2.927714, 3.724325),
    144: (-3.670075, 2.360153, 3.63523),
    158: (-2.724032, 2.96181, 3.871767),
    153: (-2.724032, 2.315802, 3.777151),
    385: (2.724032, 2.96181, 3.871767),
    380: (2.724032, 2.315802, 3.777151),
    387: (3.670075, 2.927714, 3.724325),
    373: (3.670075, 2.360153, 3.63523),
    105: (-3.986562, 5.109487, 4.466315),
    334: (3.986562, 5.109487, 4.466315),
    55: (-1.220941, 4.142165, 5.106035),
    285: (1.220941, 4.142165, 5.106035),
    98: (-1.405627, -1.714196, 5.241087),
    327: (1.405627, -1.714196, 5.241087),
    50: (-4.765501, -0.701554, 3.534632),
    280: (4.765501, -0.701554, 3.534632),
    152: (0.0, -9.403378, 4.264492),
}
FRAME = (640, 480)


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """R = Ry(yaw) Rx(pitch) Rz(roll), degrees, in the canonical frame (y up, z towards the camera)."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def canonical_face() -> np.ndarray:
    """(478, 3) canonical coordinates: the points landmark20 reads, the others spread over the face."""
    face = np.random.default_rng(0).uniform([-7, -9, -2], [7, 8, 7], size=(POINTS, 3))
    for index, point in CANONICAL.items() | FACE_POINTS.items():
        face[index] = point
    return face


def to_pixels(face: np.ndarray, rot: np.ndarray | None = None, scale: float = 12.0, centre=(320, 240)) -> np.ndarray:
    """Canonical (478, 3) -> worker pixels: rotate, scale (pixels per cm), flip y and z, place at `centre`."""
    turned = face @ (np.eye(3) if rot is None else rot).T
    return (turned * scale * np.array([1, -1, -1]) + np.array([*centre, 0.0])).astype(np.float32)


def features_of(*faces: np.ndarray, frame=FRAME) -> np.ndarray:
    return landmark20(np.stack(faces), np.ones(len(faces), bool), frame)


def column(features: np.ndarray, name: str) -> np.ndarray:
    return features[..., LANDMARK20_NAMES.index(name)]


def test_names_table_and_shapes():
    assert len(LANDMARK20_NAMES) == 20 == len(set(LANDMARK20_NAMES))
    assert all(0 <= i < POINTS for indices in LANDMARKS.values() for i in indices)
    face = to_pixels(canonical_face())
    features = landmark20(np.stack([face, face, face]), np.array([True, False, True]), FRAME)
    assert features.shape == (3, 20) and features.dtype == np.float32 and np.isfinite(features).all()
    assert not features[1].any()  # no face: zeros
    assert np.array_equal(features[0], features[2])
    with pytest.raises(ValueError, match=r"landmarks: expected \(F, 478, 3\), got \(3, 468, 3\)"):
        landmark20(np.zeros((3, 468, 3)), np.ones(3, bool), FRAME)
    with pytest.raises(ValueError, match=r"found: expected \(3,\)"):
        landmark20(np.zeros((3, POINTS, 3)), np.ones(2, bool), FRAME)


def test_frontal_face_values():
    row = features_of(to_pixels(canonical_face()))[0]
    values = dict(zip(LANDMARK20_NAMES, row.tolist(), strict=True))
    for angle in ("head_yaw", "head_pitch", "head_roll"):
        assert abs(values[angle]) < 1e-3
    assert values["mouth_corner_lift_r"] < 0  # below the nose tip
    assert values["mouth_corner_lift_r"] == pytest.approx(values["mouth_corner_lift_l"])
    assert values["mouth_width"] == pytest.approx(4.912412 / 8.891718, rel=1e-5)  # canonical corner distance / IOD
    assert 0.2 < values["blink_ear"] < 0.3  # an open eye
    assert values["brow_raise_r"] > 0 and values["brow_raise_l"] > 0
    assert values["face_x"] == pytest.approx(to_pixels(canonical_face())[:, 0].mean() / 640, rel=1e-5)


def test_invariant_to_image_scale_and_translation():
    face = to_pixels(canonical_face(), rotation(yaw=12, pitch=-5, roll=4))
    base = features_of(face)[0]
    shifted = features_of(face + np.array([57.0, -31.0, 9.0], np.float32))[0]
    shape_columns = slice(0, LANDMARK20_NAMES.index("face_scale") + 1)  # everything but the face's place
    np.testing.assert_allclose(shifted[shape_columns], base[shape_columns], rtol=1e-4, atol=1e-4)
    bigger = features_of(face * 2.5, frame=(1600, 1200))[0]  # the same picture at 2.5x the resolution
    np.testing.assert_allclose(bigger, base, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("angles", "expected"),
    [
        ({"yaw": 25}, (25, 0, 0)),
        ({"pitch": 15}, (0, 15, 0)),
        ({"roll": -10}, (0, 0, -10)),
        ({"yaw": -20, "pitch": 10, "roll": 5}, (-20, 10, 5)),
    ],
)
def test_head_pose_from_rigid_fit(angles, expected):
    face = canonical_face()
    turned = features_of(to_pixels(face, rotation(**angles)))[0]
    pose = [column(turned, name) for name in ("head_yaw", "head_pitch", "head_roll")]
    np.testing.assert_allclose(pose, expected, atol=1e-3)
    # Expression features do not change when the head turns (distances are 3-D, heights taken upright).
    frontal = features_of(to_pixels(face))[0]
    np.testing.assert_allclose(turned[:14], frontal[:14], rtol=1e-4, atol=1e-5)


def test_head_pose_signs_in_the_image():
    face = canonical_face()
    left = to_pixels(face, rotation(yaw=20))  # the subject turns to their left: the nose goes to the image's right
    assert left[1, 0] > (left[33, 0] + left[263, 0]) / 2 and column(features_of(left)[0], "head_yaw") > 0
    down = to_pixels(face, rotation(pitch=20))  # head down: the nose tip drops towards the mouth in the image
    assert column(features_of(down)[0], "head_pitch") > 0
    assert (down[1, 1] - down[168, 1]) > (to_pixels(face)[1, 1] - to_pixels(face)[168, 1])
    tilted = to_pixels(face, rotation(roll=15))  # counter-clockwise in the image: the image-right eye rises
    assert tilted[263, 1] < tilted[33, 1] and column(features_of(tilted)[0], "head_roll") > 0


def test_lifted_mouth_corner_raises_its_own_column():
    face = canonical_face()
    lifted = face.copy()
    lifted[61, 1] += 0.5  # the right mouth corner 5 mm up
    base, smile = features_of(to_pixels(face), to_pixels(lifted, rotation(yaw=10, roll=8)))
    assert column(smile, "mouth_corner_lift_r") > column(base, "mouth_corner_lift_r") + 0.05
    assert column(smile, "mouth_corner_lift_l") == pytest.approx(column(base, "mouth_corner_lift_l"), abs=1e-4)
    lifted_l = face.copy()
    lifted_l[291, 1] += 0.5
    other = features_of(to_pixels(lifted_l))[0]
    assert column(other, "mouth_corner_lift_l") > column(base, "mouth_corner_lift_l") + 0.05
    assert column(other, "mouth_corner_lift_r") == pytest.approx(column(base, "mouth_corner_lift_r"), abs=1e-4)


def test_opened_mouth_and_closed_eyes():
    face = canonical_face()
    opened = face.copy()
    opened[[14, 17, 152], 1] -= 1.5  # jaw and lower lip 15 mm down
    closed = face.copy()
    for upper, lower in ((159, 145), (160, 144), (158, 153), (386, 374), (385, 380), (387, 373)):
        closed[upper] = closed[lower]  # both eyes shut
    base, mouth, eyes = features_of(*(to_pixels(x) for x in (face, opened, closed)))
    assert column(mouth, "mouth_opening") > column(base, "mouth_opening") + 0.1
    assert column(mouth, "jaw_drop") > column(base, "jaw_drop") + 0.1
    assert column(mouth, "lip_pucker") == pytest.approx(column(base, "lip_pucker"), abs=5e-3)  # lips as thick
    assert column(mouth, "mouth_corner_lift_r") == pytest.approx(column(base, "mouth_corner_lift_r"), abs=1e-4)
    assert column(eyes, "blink_ear") < 1e-6 and column(eyes, "eye_aperture_r") < 1e-6 < column(base, "eye_aperture_r")


def test_rows_without_a_usable_face_are_zeros():
    face = to_pixels(canonical_face())
    broken = face.copy()
    broken[50, 0] = np.nan
    collapsed = np.zeros_like(face)  # no inter-ocular distance
    features = landmark20(np.stack([face, broken, collapsed, face]), np.array([True, True, True, False]), FRAME)
    assert features[0].any() and not features[1:].any()
    assert landmark20(np.zeros((0, POINTS, 3)), np.zeros(0, bool), FRAME).shape == (0, 20)


def test_subsample_to_the_target_rate():
    assert np.array_equal(subsample(10, 25.0, 25.0), np.arange(10))
    assert np.array_equal(subsample(10, 12.0, 25.0), np.arange(10))  # never upsampled
    assert np.array_equal(subsample(10, 50.0, 25.0), np.arange(0, 10, 2))
    kept = subsample(60, 30.0, 25.0)  # 2 s at 30/s -> 50 frames
    assert kept.size == 50 and kept[0] == 0 and np.all(np.diff(kept) >= 1) and kept[-1] <= 59
    with pytest.raises(ValueError, match="frame rates must be positive"):
        subsample(10, 0.0, 25.0)


def test_setup_errors_name_the_script(monkeypatch, tmp_path):
    monkeypatch.delenv(PYTHON_ENV, raising=False)
    with pytest.raises(FeatureError, match=r"SENTIMENTKIT_LANDMARKS_PYTHON is not set; run .*setup_landmarks.sh DIR"):
        landmarks_python()
    monkeypatch.setenv(PYTHON_ENV, str(tmp_path / "nope" / "python"))
    with pytest.raises(FeatureError, match=r"nope/python: no such file; .*setup_landmarks.sh"):
        landmarks_python()
    monkeypatch.setenv(PYTHON_ENV, sys.executable)  # the project's own Python: no mediapipe in it
    with pytest.raises(FeatureError, match=r"has no mediapipe; run `bash scripts/setup_landmarks.sh DIR`"):
        landmarks_python()
    with pytest.raises(FeatureError, match="has no mediapipe"):
        face_landmarks(np.zeros((2, 8, 8, 3), np.uint8), fps=25.0)


# --- through the clip features (PyAV and librosa) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def media():
    av = pytest.importorskip("av", reason="the multimodal extra (PyAV) is not installed")
    pytest.importorskip("librosa", reason="the multimodal extra (librosa) is not installed")
    pytest.importorskip("PIL", reason="Pillow (with the multimodal extra's matplotlib) draws the test face")
    return av


def write_face_mp4(av, path: Path, seconds: float = 2.0, fps: int = 30, rate: int = 44100) -> Path:
    """An H.264 + AAC .mp4 of a drawn face (320x240) whose mouth goes from flat to a smile, and a 440 Hz tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = int(seconds * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for i in range(count):
            image = draw_face(smile=i / (count - 1), dx=int(12 * np.sin(i / 6)))
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(audio.encode(frame))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def draw_face(width: int = 320, height: int = 240, smile: float = 0.0, dx: int = 0) -> np.ndarray:
    """(height, width, 3) uint8: a cartoon face (skin ellipse, hair, eyes with irises and pupils, brows, nose, a
    mouth whose corners rise with `smile` in [0, 1]), shifted `dx` pixels; MediaPipe's detector finds it."""
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.new("RGB", (width, height), (90, 110, 130))
    draw = ImageDraw.Draw(image)
    cx, cy = width // 2 + dx, height // 2
    fw, fh = height * 0.33, height * 0.43  # half width and half height of the face
    draw.ellipse([cx - fw - 6, cy - fh - 12, cx + fw + 6, cy + fh * 0.2], fill=(60, 40, 25))  # hair
    draw.rectangle([cx - fw * 0.4, cy + fh * 0.6, cx + fw * 0.4, height], fill=(205, 160, 130))  # neck
    draw.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=(225, 180, 150))
    eye_y, eye_w, eye_h = cy - fh * 0.15, fw * 0.22, fh * 0.09
    for side in (-1, 1):
        x = cx + side * fw * 0.42
        draw.ellipse(
            [x - eye_w, eye_y - eye_h, x + eye_w, eye_y + eye_h], fill=(245, 245, 245), outline=(60, 40, 30), width=2
        )
        draw.ellipse([x - eye_h * 0.9, eye_y - eye_h * 0.9, x + eye_h * 0.9, eye_y + eye_h * 0.9], fill=(70, 50, 30))
        draw.ellipse([x - eye_h * 0.4, eye_y - eye_h * 0.4, x + eye_h * 0.4, eye_y + eye_h * 0.4], fill=(10, 10, 10))
        brow_y = eye_y - fh * 0.17
        draw.line([x - eye_w * 1.2, brow_y + 3, x, brow_y - 3, x + eye_w * 1.2, brow_y + 2], fill=(60, 40, 25), width=5)
    nose_y = cy + fh * 0.2
    draw.line([cx, eye_y + 5, cx - fw * 0.1, nose_y], fill=(180, 130, 105), width=3)
    draw.ellipse([cx - fw * 0.16, nose_y - 5, cx + fw * 0.16, nose_y + 7], fill=(200, 145, 120))
    mouth_y, mouth_w, lift = cy + fh * 0.48, fw * 0.38, smile * fh * 0.08
    draw.line(
        [cx - mouth_w, mouth_y - lift, cx, mouth_y + fh * 0.03, cx + mouth_w, mouth_y - lift],
        fill=(160, 60, 60),
        width=6,
        joint="curve",
    )
    return np.asarray(image.filter(ImageFilter.GaussianBlur(1.2)))


def test_extract_clip_landmark_errors(media, tmp_path):
    from sentimentkit.multimodal.features import extract_clip

    wav = tmp_path / "voice.wav"
    with wave.open(str(wav), "wb") as out:  # 0.5 s of a 440 Hz tone, 16-bit mono
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.sin(2 * np.pi * 440 * np.arange(8000) / 16000) * 16000).astype("<i2").tobytes())
    with pytest.raises(FeatureError, match=r"voice.wav: has no video stream; face landmarks need a video"):
        extract_clip(wav, "hello", landmarks=True)
    with pytest.raises(ValueError, match=r"voice.wav: vision from an OpenFace CSV or from face landmarks, not both"):
        extract_clip(wav, "hello", landmarks=True, openface=tmp_path / "face.csv")


def test_clip_folder_switch(media, tmp_path, monkeypatch):
    from sentimentkit.multimodal.clips import read_clip_folder, wants_landmarks

    root = tmp_path / "mine"
    write_face_mp4(media, root / "Raw" / "vidA" / "1.mp4", seconds=0.4)
    (root / "label.csv").write_text("video_id,clip_id,text,label,annotation,mode\nvidA,1,a face,1.0,Positive,train\n")
    assert not wants_landmarks(root)
    assert read_clip_folder(root, "train")[0].vision.shape == (0, 709)  # cached as OpenFace-kind features
    (root / "extraction.json").write_text('{"landmarks": true}')
    assert wants_landmarks(root)
    monkeypatch.delenv(PYTHON_ENV, raising=False)
    with pytest.raises(FeatureError, match="setup_landmarks.sh"):  # not the cached features of the other kind
        read_clip_folder(root, "train")
    (root / "extraction.json").write_text('{"landmark": true}')
    with pytest.raises(ValueError, match=r'extraction.json: expected an object with one key, "landmarks"'):
        wants_landmarks(root)
    (root / "extraction.json").write_text('{"landmarks": "yes"}')
    with pytest.raises(ValueError, match=r'"landmarks" must be true or false'):
        wants_landmarks(root)


# --- MediaPipe itself (needs the separate interpreter) ----------------------------------------------------------

needs_mediapipe = pytest.mark.skipif(
    not os.environ.get(PYTHON_ENV),
    reason=f"{PYTHON_ENV} is not set: run `bash scripts/setup_landmarks.sh DIR` and export {PYTHON_ENV}=DIR/bin/python",
)


@needs_mediapipe
def test_features_command_with_landmarks(media, tmp_path):
    import typer
    from typer.testing import CliRunner

    from sentimentkit.multimodal.cli import features
    from sentimentkit.multimodal.npz import load_examples

    clip = write_face_mp4(media, tmp_path / "face.mp4")  # 60 frames at 30/s -> 50 at 25/s
    app = typer.Typer()
    app.command()(features)
    out = tmp_path / "face.npz"
    result = CliRunner().invoke(app, [str(clip), "-t", "I am smiling now", "-o", str(out), "--landmarks"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["vision"] == [50, 20] and summary["faces_found"] >= 45
    (example,) = load_examples(out)
    meta = example.meta["vision"]
    assert meta["extractor"].startswith("mediapipe 0.10.21") and meta["fps"] == 25.0 and meta["video_fps"] == 30.0
    assert meta["features"] == list(LANDMARK20_NAMES) and meta["frames"] == 50
    vision = example.vision
    assert vision.shape == (50, 20) and vision.dtype == np.float32 and np.isfinite(vision).all()
    found = vision.any(axis=1)
    assert found.sum() == summary["faces_found"]
    # The drawn mouth turns into a smile: both corners rise over the clip.
    lifts = vision[found][
        :, [LANDMARK20_NAMES.index("mouth_corner_lift_r"), LANDMARK20_NAMES.index("mouth_corner_lift_l")]
    ]
    assert (lifts[-10:].mean(axis=0) > lifts[:10].mean(axis=0) + 0.02).all()
    assert np.all(np.abs(vision[found][:, LANDMARK20_NAMES.index("head_yaw")]) < 30)  # a frontal drawing


@needs_mediapipe
def test_clip_folder_with_landmarks_and_worker_errors(media, tmp_path, monkeypatch):
    from sentimentkit.multimodal import landmarks
    from sentimentkit.multimodal.clips import read_clip_folder

    root = tmp_path / "mine"
    write_face_mp4(media, root / "Raw" / "vidA" / "1.mp4", seconds=0.6)
    (root / "label.csv").write_text("video_id,clip_id,text,label,annotation,mode\nvidA,1,a face,1.0,Positive,train\n")
    (root / "extraction.json").write_text('{"landmarks": true}')
    (example,) = read_clip_folder(root, "train")
    assert example.vision.shape == (15, 20) and example.vision.any(axis=1).sum() >= 12
    assert read_clip_folder(root, "train", landmarks=False)[0].vision.shape == (0, 709)

    # The worker itself refuses bad input with a message; a failing worker's stderr reaches the error.
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 8, 8, 3), np.float32))
    result = subprocess.run(
        [landmarks_python(), str(WORKER), str(bad), str(tmp_path / "o.npz")], capture_output=True, text=True
    )
    assert result.returncode != 0 and "expected (F, H, W, 3) uint8 RGB frames" in result.stderr
    failing = tmp_path / "failing_worker.py"
    failing.write_text("import sys\nsys.exit('the mesh fell over')\n")
    monkeypatch.setattr(landmarks, "WORKER", failing)
    with pytest.raises(FeatureError, match=r"exited 1:\n.*the mesh fell over"):
        face_landmarks(np.zeros((2, 8, 8, 3), np.uint8), fps=25.0)
