"""MediaPipe face mesh over a stack of frames, run in its own interpreter (scripts/setup_landmarks.sh makes one).

    PYTHON landmark_worker.py FRAMES.npy OUT.npz

FRAMES.npy: (F, H, W, 3) uint8 RGB video frames, in time order. OUT.npz:
- `landmarks` (F, 478, 3) float32: face-mesh points in PIXELS of the frame: x = x_norm * W, y = y_norm * H (y down),
  z = z_norm * W (MediaPipe's relative depth, on the x scale, smaller = nearer the camera). Pixels keep distances
  isotropic when W != H; MediaPipe's own normalised x and y are not.
- `found` (F,) bool: whether a face was found. Frames without one hold zeros (MMSA-FET drops them instead).
- `frame_size` (2,) int64 (W, H); `mediapipe_version` (a 0-d string); `seconds` (0-d float64): time in the mesh.

Video mode (static_image_mode=False: the detector runs until a face is found, then the mesh tracks it),
max_num_faces=1, refine_landmarks=True (468 mesh points + 10 iris points). Bad input exits with status 2 and a
message on stderr. Only the standard library, numpy and mediapipe are imported: sentimentkit is not installed in
the interpreter that runs this file (mediapipe 0.10.21 needs protobuf<5 and numpy<2; see the setup script).
"""

from __future__ import annotations

import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

POINTS = 478  # face mesh with refine_landmarks=True


def read_frames(path: Path) -> np.ndarray:
    """The frames of FRAMES.npy, (F, H, W, 3) uint8; exits with status 2 naming the file if they are not that."""
    try:
        frames = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        sys.exit(f"landmark_worker: {path}: not a readable .npy array ({error})")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        sys.exit(f"landmark_worker: {path}: expected (F, H, W, 3) uint8 RGB frames, got {frames.shape} {frames.dtype}")
    if frames.shape[0] == 0:
        sys.exit(f"landmark_worker: {path}: holds no frames")
    return frames


def face_mesh(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(F, 478, 3) float32 pixel landmarks (zeros where no face), (F,) bool found, and seconds spent."""
    import mediapipe as mp

    count, height, width = frames.shape[:3]
    landmarks = np.zeros((count, POINTS, 3), dtype=np.float32)
    found = np.zeros(count, dtype=bool)
    scale = np.array([width, height, width], dtype=np.float32)
    start = time.perf_counter()
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True) as mesh:
        for i, frame in enumerate(frames):
            result = mesh.process(np.ascontiguousarray(frame))
            if result.multi_face_landmarks:
                points = result.multi_face_landmarks[0].landmark
                landmarks[i] = np.array([(p.x, p.y, p.z) for p in points], dtype=np.float32) * scale
                found[i] = True
    return landmarks, found, time.perf_counter() - start


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit("usage: landmark_worker.py FRAMES.npy OUT.npz")
    frames_path, out_path = Path(argv[0]), Path(argv[1])
    frames = read_frames(frames_path)
    landmarks, found, seconds = face_mesh(frames)
    np.savez(
        out_path,
        landmarks=landmarks,
        found=found,
        frame_size=np.array([frames.shape[2], frames.shape[1]], dtype=np.int64),
        mediapipe_version=np.array(version("mediapipe")),
        seconds=np.array(seconds),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
