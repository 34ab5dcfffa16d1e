"""Features from a user's own clip (.wav/.mp4 + transcript), offline, in process (spec section 8).

- Decoding: PyAV (FFmpeg bundled in its wheel), both streams in one pass; audio resampled to 22050 Hz mono by
  PyAV's AudioResampler (librosa.load would need an ffmpeg on PATH for .mp4).
- Audio: `audio33`, the SIMS-style 33-d librosa features in SKESL's order [zero-crossing rate (1), MFCC (20,
  htk=True), chroma_cqt (12)], hop 512 at 22050 Hz: about 43 frames per second (SKESL `get_audio_embedding.py`).
  These are NOT MOSI's 5-d COVAREP features, which librosa cannot reproduce (spec 8.1): a model trained on MMSA
  MOSI features cannot score user clips; train on features extracted here.
- Vision, one of: an OpenFace 2 FeatureExtraction CSV supplied by the user (`read_openface`: columns 5 onwards,
  709 with the flags `-2Dfp -3Dfp -pdmparams -pose -aus -gaze`); or MediaPipe face landmarks of the decoded frames,
  summarised as 20 geometric features per frame at ~25 frames/s (`landmarks.py`; mediapipe runs in its own venv).
  With neither the clip has no vision (a (0, 709) array).

librosa, av and the landmark code are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..types import MultimodalExample
from .errors import FeatureError

SAMPLE_RATE = 22050
HOP_LENGTH = 512
OPENFACE_DIM = 709
OPENFACE_ID_COLUMNS = ("frame", "face_id", "timestamp", "confidence", "success")
AUDIO33_NAMES: tuple[str, ...] = (
    "zcr",
    *(f"mfcc_{i}" for i in range(20)),
    *(f"chroma_{note}" for note in ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")),
)
VISION_MISSING = "missing: pass an OpenFace 2 CSV or extract face landmarks"


@dataclass(frozen=True, eq=False)
class Decoded:
    """A decoded clip. samples: (N,) float32 mono at `sample_rate`; frames: (F, H, W, 3) uint8 RGB, or None for an
    audio-only file (or when video was not asked for); fps: the video's average frame rate, or None."""

    samples: np.ndarray
    sample_rate: int
    frames: np.ndarray | None = None
    fps: float | None = None

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.samples.shape[0] / self.sample_rate


def decode(path: str | Path, *, video: bool = True, sample_rate: int = SAMPLE_RATE) -> Decoded:
    """Decode a clip's audio (mono, float32, resampled to `sample_rate`) and, with `video`, its RGB frames.

    Decoding video holds every frame in memory ((F, H, W, 3) bytes); `extract_clip` asks for it only for landmarks.
    Raises FileNotFoundError for a missing file and FeatureError for a file FFmpeg cannot read or one without
    an audio stream, naming the file."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such clip file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise FeatureError(f"{path}: not a media file FFmpeg can read ({error})") from None
    with container:
        if not container.streams.audio:
            raise FeatureError(f"{path}: has no audio stream; a clip needs speech audio (.wav, or a video with sound)")
        audio_stream = container.streams.audio[0]
        video_stream = container.streams.video[0] if video and container.streams.video else None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        frames: list[np.ndarray] = []
        streams = [s for s in (audio_stream, video_stream) if s is not None]
        kind = "media"
        try:
            for packet in container.demux(*streams):
                kind = packet.stream.type
                for frame in packet.decode():
                    if packet.stream is audio_stream:
                        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
                    else:
                        frames.append(frame.to_ndarray(format="rgb24"))  # (H, W, 3)
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]  # flush
        except av.error.FFmpegError as error:
            raise FeatureError(f"{path}: cannot decode the {kind} stream ({error})") from None
        fps = float(video_stream.average_rate) if video_stream is not None and video_stream.average_rate else None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise FeatureError(f"{path}: the audio stream holds no samples")
    stacked = np.stack(frames) if frames else None
    return Decoded(samples=samples, sample_rate=sample_rate, frames=stacked, fps=fps if stacked is not None else None)


def audio33(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """SIMS-style audio features, (T, 33) float32, columns `AUDIO33_NAMES`: zero-crossing rate, 20 MFCCs (HTK mel
    scale) and 12 chroma_cqt bins, librosa defaults otherwise (centred frames, so T = 1 + len // hop_length: a
    clip shorter than one hop still gives 1 frame). Expects 22050 Hz, as the SIMS features were made."""
    import librosa

    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    if y.size == 0:
        raise ValueError("audio33: no samples")
    if not np.isfinite(y).all():
        raise ValueError("audio33: the samples hold NaN or infinite values")
    frames = 1 + y.size // hop_length
    # chroma_cqt's lowest filters span ~1 s; zero-pad very short clips so librosa can run, then keep `frames` rows.
    padded = np.pad(y, (0, max(0, sample_rate - y.size)))
    with warnings.catch_warnings():
        # The CQT's low octaves run on downsampled signal; on short clips librosa warns that n_fft exceeds it, and
        # on silence that no pitch is found for tuning. Both are expected here and the results are still defined.
        warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)
        warnings.filterwarnings("ignore", message="Trying to estimate tuning", category=UserWarning)
        zcr = librosa.feature.zero_crossing_rate(padded, hop_length=hop_length)  # (1, T')
        mfcc = librosa.feature.mfcc(y=padded, sr=sample_rate, hop_length=hop_length, n_mfcc=20, htk=True)  # (20, T')
        chroma = librosa.feature.chroma_cqt(y=padded, sr=sample_rate, hop_length=hop_length)  # (12, T')
    features = np.concatenate([zcr[:, :frames], mfcc[:, :frames], chroma[:, :frames]], axis=0).T  # (T, 33)
    return np.nan_to_num(features, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def read_openface(csv_path: str | Path, dims: int | None = OPENFACE_DIM) -> np.ndarray:
    """Per-frame features from an OpenFace 2 FeatureExtraction CSV: (T, 709) float32 for the flags
    `-2Dfp -3Dfp -pdmparams -pose -aus -gaze` (`dims`; None accepts any count), one row per video frame.

    The header starts with frame, face_id, timestamp, confidence, success (OpenFace writes ", " between fields;
    the spaces are ignored); the features are every column after those five, as SKESL and MMSA use them. Rows
    where success == 0 (no face tracked) become zeros: the tracker's numbers there are meaningless, and a model
    sees the frame as empty. Where a frame has several faces, the row with the highest confidence is kept."""
    path = Path(csv_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such OpenFace CSV")
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f, skipinitialspace=True)
        header = [name.strip() for name in next(rows, [])]
        if tuple(header[:5]) != OPENFACE_ID_COLUMNS:
            raise FeatureError(
                f"{path}:1: expected an OpenFace 2 header starting with {', '.join(OPENFACE_ID_COLUMNS)}; "
                f"got {', '.join(header[:5]) or 'an empty file'}"
            )
        width = len(header) - 5
        if dims is not None and width != dims:
            raise FeatureError(
                f"{path}:1: {width} feature columns after {OPENFACE_ID_COLUMNS[-1]}; expected {dims} "
                "(run FeatureExtraction with -2Dfp -3Dfp -pdmparams -pose -aus -gaze)"
            )
        best: dict[int, tuple[float, np.ndarray]] = {}
        for values in rows:
            if not values or values == [""]:
                continue
            line = rows.line_num
            if len(values) != len(header):
                raise FeatureError(f"{path}:{line}: {len(values)} fields; the header has {len(header)}")
            try:
                numbers = np.array([float(v) for v in values], dtype=np.float64)
            except ValueError:
                bad = next(h for h, v in zip(header, values, strict=True) if not _is_number(v))
                raise FeatureError(f"{path}:{line}: column {bad!r} is not a number") from None
            if not np.isfinite(numbers).all():
                bad = header[int(np.argwhere(~np.isfinite(numbers))[0][0])]
                raise FeatureError(f"{path}:{line}: column {bad!r} is NaN or infinite")
            frame, confidence, success = int(numbers[0]), numbers[3], numbers[4]
            features = numbers[5:] if success != 0 else np.zeros(width)
            if frame not in best or confidence > best[frame][0]:
                best[frame] = (confidence, features)
    if not best:
        return np.zeros((0, width), dtype=np.float32)
    return np.stack([best[frame][1] for frame in sorted(best)]).astype(np.float32)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def openface_names(csv_path: str | Path) -> list[str]:
    """The feature column names of an OpenFace CSV (its header after the first five columns)."""
    with open(csv_path, newline="", encoding="utf-8") as f:
        return [name.strip() for name in next(csv.reader(f, skipinitialspace=True), [])][5:]


def extract_clip(
    path: str | Path,
    transcript: str,
    *,
    openface: str | Path | None = None,
    landmarks: bool = False,
    clip_id: str | None = None,
    label: float | None = None,
) -> MultimodalExample:
    """One MultimodalExample from a clip file and its transcript: `audio33` audio and, when `openface` (an
    OpenFace 2 CSV of the same clip) is given, its 709-d vision; with `landmarks`, the 20 `landmark20` features of
    the clip's own video frames at ~25 frames/s ((T_v, 20); needs $SENTIMENTKIT_LANDMARKS_PYTHON, see
    `landmarks.py`); otherwise vision is a (0, 709) array and meta["vision"] says it is missing. meta records the
    extractors, their settings and the feature names."""
    import librosa

    path = Path(path)
    if not transcript.strip():
        raise ValueError(f"{path}: the transcript is empty; a clip needs the words spoken in it")
    if label is not None and not math.isfinite(label):
        raise ValueError(f"{path}: label must be a finite number, got {label!r}")
    if landmarks and openface is not None:
        raise ValueError(f"{path}: vision from an OpenFace CSV or from face landmarks, not both; pass one of them")
    decoded = decode(path, video=landmarks)
    vision_meta: dict[str, Any] | str
    if landmarks:  # before the audio: a missing landmark interpreter fails fast
        vision, vision_meta = _landmark_vision(path, decoded)
    elif openface is not None:
        vision = read_openface(openface)
        names = openface_names(openface)
        vision_meta = {
            "extractor": "OpenFace 2 FeatureExtraction CSV (columns 5 onwards; success == 0 rows zeroed)",
            "csv": Path(openface).name,
            "features": f"{len(names)} columns, {names[0]} .. {names[-1]}",
        }
    else:
        vision = np.zeros((0, OPENFACE_DIM), dtype=np.float32)
        vision_meta = VISION_MISSING
    audio = audio33(decoded.samples, decoded.sample_rate, HOP_LENGTH)
    meta: dict[str, Any] = {
        "clip": path.name,
        "duration_s": round(decoded.duration, 3),
        "audio": {
            "extractor": f"librosa {librosa.__version__} (audio33, SKESL order)",
            "sample_rate": decoded.sample_rate,
            "hop_length": HOP_LENGTH,
            "frame_rate": round(decoded.sample_rate / HOP_LENGTH, 4),
            "features": list(AUDIO33_NAMES),
        },
        "vision": vision_meta,
    }
    return MultimodalExample(
        text=transcript,
        audio=audio,
        vision=vision,
        label=None if label is None else float(label),
        id=clip_id or path.stem,
        source=str(path),
        meta=meta,
    )


def _landmark_vision(path: Path, decoded: Decoded) -> tuple[np.ndarray, dict[str, Any]]:
    """(T_v, 20) float32 `landmark20` rows of a decoded clip's frames at ~25 frames/s, and their meta entry."""
    from .landmarks import LANDMARK20_NAMES, face_landmarks, landmark20

    if decoded.frames is None:
        raise FeatureError(f"{path}: has no video stream; face landmarks need a video of the speaker's face")
    if decoded.fps is None:
        raise FeatureError(f"{path}: the video stream states no frame rate; cannot time its frames")
    faces = face_landmarks(decoded.frames, decoded.fps)
    vision = landmark20(faces.landmarks, faces.found, faces.frame_size)
    return vision, {
        "extractor": f"{faces.extractor} face mesh (refine_landmarks, video mode) -> landmark20",
        "fps": round(faces.fps, 4),
        "video_fps": round(decoded.fps, 4),
        "features": list(LANDMARK20_NAMES),
        "faces_found": int(faces.found.sum()),
        "frames": int(faces.found.size),
    }
