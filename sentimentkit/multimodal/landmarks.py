"""Face landmarks of a clip's video frames (MediaPipe face mesh, offline) and a 20-d geometric summary of them.

MediaPipe 0.10.21, the newest release that ships its face models, needs protobuf<5 while onnx (a sentimentkit
dependency) needs protobuf>=6.31.1, so the two cannot share an environment. The mesh runs in a separate
interpreter (`scripts/setup_landmarks.sh DIR`, then `SENTIMENTKIT_LANDMARKS_PYTHON=DIR/bin/python`), as a
subprocess running `landmark_worker.py` on frames this process decoded with PyAV.

`landmark20` turns each frame's 478 points into 20 numbers (`LANDMARK20_NAMES`, spec 8.2's "AU proxy"): distances
divided by the inter-ocular distance (so the size and place of the face in the image do not matter), signed
heights measured in the face's own frame after undoing the head rotation, head yaw/pitch/roll from a rigid fit to
MediaPipe's canonical face, and the face's size and place in the frame. Pure numpy; importing this module is cheap.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FeatureError

PYTHON_ENV = "SENTIMENTKIT_LANDMARKS_PYTHON"
SETUP_HINT = (
    "run `bash scripts/setup_landmarks.sh DIR` from the sentimentkit source tree (a separate venv with mediapipe "
    "0.10.21; it cannot share sentimentkit's environment, whose onnx needs protobuf>=6.31.1 where mediapipe needs "
    f"protobuf<5; docs/multimodal-features.md has the steps by hand), then `export {PYTHON_ENV}=DIR/bin/python`"
)
WORKER = Path(__file__).with_name("landmark_worker.py")
POINTS = 478  # MediaPipe face mesh with refine_landmarks=True: 468 mesh points + 10 iris points
TIMEOUT_BASE_S = 120.0  # interpreter start and model load, with room for a busy machine
TIMEOUT_PER_FRAME_S = 0.5  # about 50x the measured ~10 ms a frame (docs/multimodal-features.md)

# MediaPipe face-mesh indices ("r"/"l": the subject's right/left; the right side is on the image's left).
# One entry per feature; every distance is divided by the inter-ocular distance `eye_outer`.
LANDMARKS: dict[str, tuple[int, ...]] = {
    "eye_outer": (33, 263),  # outer eye corners r, l: their 3-D distance is the inter-ocular distance (IOD)
    "eye_corners_r": (33, 133),  # outer, inner corner of the right eye (rigid: reference height for the brow)
    "eye_corners_l": (362, 263),  # inner, outer corner of the left eye
    "nose_tip": (1,),  # reference point for the mouth-corner heights (moves neither with the jaw nor the lips)
    "mouth_corners": (61, 291),  # r, l: corner lift (height above the nose tip) and mouth width
    "inner_lips": (13, 14),  # upper, lower inner lip: mouth opening
    "outer_lips": (0, 17),  # upper, lower outer lip: with the inner lips, lip thickness for the pucker ratio
    "eyelids_r": (159, 145),  # upper, lower lid of the right eye: eye aperture
    "eyelids_l": (386, 374),
    "ear_r": (33, 160, 158, 133, 153, 144),  # eye-aspect-ratio points p1..p6 of the right eye (blink)
    "ear_l": (362, 385, 387, 263, 373, 380),
    "brows": (105, 334),  # r, l: mid-brow points, height above their eye's corners (brow raise)
    "inner_brows": (55, 285),  # r, l: inner brow ends; their distance falls as the brows are drawn together
    "nose_wings": (98, 327),  # r, l: alar base; pulled up towards the inner eye corners by a nose wrinkle
    "inner_eye_corners": (133, 362),
    "cheeks": (50, 280),  # r, l: cheek apples; pushed up towards the lower lids by a cheek raise
    "lower_lids": (145, 374),
    "chin": (152,),  # jaw drop: chin to nose-tip distance
}
LANDMARK20_NAMES: tuple[str, ...] = (
    "mouth_corner_lift_r",  # height of the right mouth corner above the nose tip (negative; rises with a smile)
    "mouth_corner_lift_l",
    "mouth_width",  # corner-to-corner distance
    "mouth_opening",  # inner-lip gap
    "lip_pucker",  # lip thickness (outer minus inner lip gap) over mouth width: rises as the lips round forward
    "eye_aperture_r",  # lid gap
    "eye_aperture_l",
    "blink_ear",  # eye aspect ratio, mean of both eyes (Soukupova & Cech 2016): ~0.25 open, dips towards 0 in a blink
    "brow_raise_r",  # height of the mid-brow above the eye corners' midpoint
    "brow_raise_l",
    "inner_brow_distance",  # falls with a frown (brows drawn together)
    "nose_wrinkle",  # minus the nose-wing to inner-eye-corner distance: rises as the nose wrinkles
    "cheek_raise",  # minus the cheek to lower-lid distance: rises as the cheeks lift
    "jaw_drop",  # chin to nose-tip distance
    "head_yaw",  # degrees; positive: the subject turns to their left (the image's right)
    "head_pitch",  # degrees; positive: the head tilts down
    "head_roll",  # degrees; positive: counter-clockwise in the image
    "face_scale",  # IOD over the frame width
    "face_x",  # mean landmark x over the frame width, in [0, 1]
    "face_y",  # mean landmark y over the frame height, in [0, 1]
)

# MediaPipe's canonical face (mediapipe/modules/face_geometry/data/canonical_face_model.obj; cm, y up, z towards
# the viewer) at rigid points: forehead, nose bridge and tip, eye corners, temples and cheekbones. The head pose is
# the rotation that best maps these onto the observed points (Kabsch/Umeyama, least squares).
CANONICAL: dict[int, tuple[float, float, float]] = {
    10: (0.0, 8.261778, 4.481535),
    9: (0.0, 4.885979, 5.385258),
    168: (0.0, 3.271027, 5.236015),
    6: (0.0, 2.473255, 5.788627),
    197: (0.0, 1.728369, 6.31675),
    195: (0.0, 1.059413, 6.774605),
    1: (0.0, -1.126865, 7.475604),
    33: (-4.445859, 2.663991, 3.173422),
    133: (-1.856432, 2.585245, 3.757904),
    362: (1.856432, 2.585245, 3.757904),
    263: (4.445859, 2.663991, 3.173422),
    127: (-7.743095, 2.364999, -2.005167),
    356: (7.743095, 2.364999, -2.005167),
    234: (-7.664182, 0.673132, -2.435867),
    454: (7.664182, 0.673132, -2.435867),
}
_RIGID = np.array(list(CANONICAL), dtype=np.int64)  # (K,)
_CANONICAL = np.array(list(CANONICAL.values()), dtype=np.float64)  # (K, 3)


@dataclass(frozen=True, eq=False)
class FaceLandmarks:
    """Landmarks of the frames kept at about `target_fps`. landmarks: (T, 478, 3) float32 in pixels (x right,
    y down, z MediaPipe's relative depth on the x scale); found: (T,) bool (False rows are zeros); times: (T,)
    float64 seconds of each kept frame; frame_size: (width, height); extractor: e.g. "mediapipe 0.10.21";
    fps: the rate of the kept frames (the video's when it is at most `target_fps`)."""

    landmarks: np.ndarray
    found: np.ndarray
    times: np.ndarray
    frame_size: tuple[int, int]
    extractor: str
    fps: float


def landmarks_python() -> Path:
    """The interpreter that runs the face mesh: $SENTIMENTKIT_LANDMARKS_PYTHON. A FeatureError says what is
    wrong with it (unset, missing, not executable, no mediapipe) and how to set one up."""
    value = os.environ.get(PYTHON_ENV, "").strip()
    if not value:
        raise FeatureError(f"face landmarks need a Python with mediapipe: {PYTHON_ENV} is not set; {SETUP_HINT}")
    python = Path(value)
    if not python.is_file():
        raise FeatureError(f"{PYTHON_ENV}={value}: no such file; {SETUP_HINT}")
    if not os.access(python, os.X_OK):
        raise FeatureError(f"{PYTHON_ENV}={value}: not executable; {SETUP_HINT}")
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('mediapipe') is None)"
    try:
        result = subprocess.run([str(python), "-c", probe], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FeatureError(f"{PYTHON_ENV}={value}: cannot run it ({error}); {SETUP_HINT}") from None
    if result.returncode != 0:
        raise FeatureError(f"{PYTHON_ENV}={value}: this Python has no mediapipe; {SETUP_HINT}")
    return python


def subsample(count: int, fps: float, target_fps: float) -> np.ndarray:
    """Indices of the frames to keep, (T,) int64: every frame when fps <= target_fps, otherwise the frame at or
    just before each tick of a `target_fps` clock (so T ~ count * target_fps / fps)."""
    if fps <= 0 or target_fps <= 0:
        raise ValueError(f"frame rates must be positive: fps={fps}, target_fps={target_fps}")
    if fps <= target_fps:
        return np.arange(count, dtype=np.int64)
    ticks = np.arange(int(np.ceil(count * target_fps / fps))) * (fps / target_fps)  # in source frames
    return np.unique(np.minimum(np.floor(ticks + 1e-9), count - 1).astype(np.int64))


def face_landmarks(frames: np.ndarray, fps: float, target_fps: float = 25.0) -> FaceLandmarks:
    """Face-mesh landmarks of (F, H, W, 3) uint8 RGB frames at `fps`, subsampled to about `target_fps`, computed
    by `landmark_worker.py` in the $SENTIMENTKIT_LANDMARKS_PYTHON interpreter. A worker failure or timeout (120 s
    plus 0.5 s a frame) raises FeatureError with the end of its stderr."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected (F, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError("frames: no frames")
    python = landmarks_python()
    keep = subsample(frames.shape[0], fps, target_fps)
    timeout = TIMEOUT_BASE_S + TIMEOUT_PER_FRAME_S * keep.size
    with tempfile.TemporaryDirectory(prefix="sentimentkit-landmarks-") as tmp:
        frames_path, out_path = Path(tmp) / "frames.npy", Path(tmp) / "landmarks.npz"
        kept = np.lib.format.open_memmap(frames_path, mode="w+", dtype=np.uint8, shape=(keep.size, *frames.shape[1:]))
        for row, index in enumerate(keep):  # frame by frame: no second copy of the clip in memory
            kept[row] = frames[index]
        kept.flush()
        del kept
        try:
            result = subprocess.run(
                [str(python), str(WORKER), str(frames_path), str(out_path)],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise FeatureError(f"face landmarks: the worker ran past {timeout:.0f} s on {keep.size} frames") from None
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise FeatureError(f"face landmarks: {WORKER.name} ({python}) exited {result.returncode}:\n{tail}")
        with np.load(out_path, allow_pickle=False) as out:
            landmarks, found = out["landmarks"], out["found"]
            version = str(out["mediapipe_version"])
    if landmarks.shape != (keep.size, POINTS, 3) or found.shape != (keep.size,):
        raise FeatureError(
            f"face landmarks: the worker returned landmarks {landmarks.shape} and found {found.shape}; "
            f"expected ({keep.size}, {POINTS}, 3) and ({keep.size},)"
        )
    return FaceLandmarks(
        landmarks=landmarks.astype(np.float32),
        found=found.astype(bool),
        times=keep / float(fps),
        frame_size=(int(frames.shape[2]), int(frames.shape[1])),
        extractor=f"mediapipe {version}",
        fps=min(float(fps), float(target_fps)),
    )


def head_rotation(landmarks: np.ndarray) -> np.ndarray:
    """(F, 3, 3) rotations R mapping the canonical face onto each frame's rigid points (pixels turned to a y-up,
    z-towards-camera frame), fitted by least squares (Kabsch): observed - centre ~ scale * R @ canonical."""
    observed = landmarks[:, _RIGID].astype(np.float64) * np.array([1.0, -1.0, -1.0])  # (F, K, 3)
    observed = observed - observed.mean(axis=1, keepdims=True)
    canonical = _CANONICAL - _CANONICAL.mean(axis=0)
    cross = np.einsum("kc,fko->fco", canonical, observed)  # (F, 3, 3) canonical^T @ observed
    u, _, vt = np.linalg.svd(cross)
    d = np.sign(np.linalg.det(np.transpose(vt, (0, 2, 1)) @ np.transpose(u, (0, 2, 1))))  # no reflections
    fix = np.broadcast_to(np.eye(3), cross.shape).copy()
    fix[:, 2, 2] = d
    return np.transpose(vt, (0, 2, 1)) @ fix @ np.transpose(u, (0, 2, 1))


def landmark20(landmarks: np.ndarray, found: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """The 20 geometric features of `LANDMARK20_NAMES` per frame, (F, 20) float32, from (F, 478, 3) pixel
    landmarks (`face_landmarks`), (F,) `found` and the frame's (width, height). Rows where found is False, or
    whose landmarks are not finite or have no inter-ocular distance, are all zeros."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    found = np.asarray(found, dtype=bool)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (POINTS, 3):
        raise ValueError(f"landmarks: expected (F, {POINTS}, 3), got {landmarks.shape}")
    if found.shape != landmarks.shape[:1]:
        raise ValueError(f"found: expected ({landmarks.shape[0]},), got {found.shape}")
    frame_width, frame_height = frame_size
    out = np.zeros((landmarks.shape[0], len(LANDMARK20_NAMES)), dtype=np.float32)
    usable = found & np.isfinite(landmarks).all(axis=(1, 2))
    points = landmarks[usable]  # (N, 478, 3)
    if points.shape[0] == 0:
        return out

    def at(name: str, k: int = 0) -> np.ndarray:  # (N, 3): the k-th point of a LANDMARKS entry
        return points[:, LANDMARKS[name][k]]

    def dist(name_a: str, k_a: int, name_b: str, k_b: int) -> np.ndarray:  # (N,) 3-D distance
        return np.linalg.norm(at(name_a, k_a) - at(name_b, k_b), axis=-1)

    with np.errstate(divide="ignore", invalid="ignore"):
        iod = dist("eye_outer", 0, "eye_outer", 1)  # (N,)
        rotation = head_rotation(points)  # (N, 3, 3)
        # Heights in the face's own frame: y-up coordinates with the head rotation undone (x' = R^T x).
        upright = np.einsum("nkc,ncd->nkd", points * np.array([1.0, -1.0, -1.0]), rotation)[..., 1]  # (N, 478)

        def up(name: str, k: int = 0) -> np.ndarray:  # (N,) height of a point in the face's frame
            return upright[:, LANDMARKS[name][k]]

        opening = dist("inner_lips", 0, "inner_lips", 1)
        mouth_width = dist("mouth_corners", 0, "mouth_corners", 1)
        nose_to_eyes = (
            dist("nose_wings", 0, "inner_eye_corners", 0) + dist("nose_wings", 1, "inner_eye_corners", 1)
        ) / 2
        cheeks_to_lids = (dist("cheeks", 0, "lower_lids", 0) + dist("cheeks", 1, "lower_lids", 1)) / 2
        ear = (_eye_aspect_ratio(points, LANDMARKS["ear_r"]) + _eye_aspect_ratio(points, LANDMARKS["ear_l"])) / 2
        lengths = {  # pixels; divided by the IOD below
            "mouth_corner_lift_r": up("mouth_corners", 0) - up("nose_tip"),
            "mouth_corner_lift_l": up("mouth_corners", 1) - up("nose_tip"),
            "mouth_width": mouth_width,
            "mouth_opening": opening,
            "eye_aperture_r": dist("eyelids_r", 0, "eyelids_r", 1),
            "eye_aperture_l": dist("eyelids_l", 0, "eyelids_l", 1),
            "brow_raise_r": up("brows", 0) - (up("eye_corners_r", 0) + up("eye_corners_r", 1)) / 2,
            "brow_raise_l": up("brows", 1) - (up("eye_corners_l", 0) + up("eye_corners_l", 1)) / 2,
            "inner_brow_distance": dist("inner_brows", 0, "inner_brows", 1),
            "nose_wrinkle": -nose_to_eyes,
            "cheek_raise": -cheeks_to_lids,
            "jaw_drop": dist("chin", 0, "nose_tip", 0),
        }
        columns = {name: value / iod for name, value in lengths.items()} | {
            "lip_pucker": (dist("outer_lips", 0, "outer_lips", 1) - opening) / mouth_width,
            "blink_ear": ear,
            "head_yaw": np.degrees(np.arctan2(rotation[:, 0, 2], rotation[:, 2, 2])),
            "head_pitch": np.degrees(np.arctan2(-rotation[:, 1, 2], np.hypot(rotation[:, 1, 0], rotation[:, 1, 1]))),
            "head_roll": np.degrees(np.arctan2(rotation[:, 1, 0], rotation[:, 1, 1])),
            "face_scale": iod / frame_width,
            "face_x": points[:, :, 0].mean(axis=1) / frame_width,
            "face_y": points[:, :, 1].mean(axis=1) / frame_height,
        }
        rows = np.stack([columns[name] for name in LANDMARK20_NAMES], axis=1)  # (N, 20)
    valid = np.isfinite(rows).all(axis=1) & (iod > 0)
    out[np.flatnonzero(usable)[valid]] = rows[valid]
    return out


def _eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...]) -> np.ndarray:
    """(N,) (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) for the six eye points p1..p6 (corner, two upper lid points,
    corner, two lower lid points)."""
    p1, p2, p3, p4, p5, p6 = (points[:, i] for i in eye)
    vertical = np.linalg.norm(p2 - p6, axis=-1) + np.linalg.norm(p3 - p5, axis=-1)
    return vertical / (2 * np.linalg.norm(p1 - p4, axis=-1))
