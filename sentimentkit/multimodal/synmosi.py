"""SynMOSI: synthetic audio and vision features driven by the real MOSI transcripts, labels and splits.

Why: the real MOSI features are not available offline, and with generated features we know which part of each
array carries sentiment (the signal) and which part is irrelevant to it (the nuisance), so claims such as
"language guidance suppresses irrelevant A/V information" can be measured (MULTIMODAL.md section 7). The card is
`docs/synmosi.md`; the calibration that fixed the constants is `benchmarks/synmosi_calibration.py`.

What is real: the transcript (`text`), the label y in [-3, 3], the clip and video ids and MOSI's own
video-disjoint train/valid/test split. What is generated, per clip (section 7.2, constants in `CONSTANTS`):
audio (T_a, 5) at 20 Hz, COVAREP-like [voicing, log-F0, energy, voice quality, spectral tilt], at most 375
frames; vision (T_v, 20) at 25 Hz, FACET-like [0-2 face position/scale, 3-8 positive expressions, 9-14
negative expressions, 15-19 other AUs], at most 500 frames. Real frames only; collate pads.

Each modality is `x = rest + signal + eta * nuisance_unit`: rest is the clip's baseline and channel noise,
signal is driven by the clip's valence v = y/3 and arousal, nuisance is independent of y and the text. Every
random number comes from `np.random.default_rng` streams seeded by SHA-256 of (seed, clip id) (or of (seed,
video id) for speaker traits), one stream each for timeline, signal, nuisance and noise, and every stream draws
the same numbers whatever eta, conflict and confound are; so changing eta changes only the nuisance amplitude.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import lfilter

from ..types import MultimodalExample

GENERATOR_VERSION = "1.0"
AUDIO_HZ, VISION_HZ = 20.0, 25.0
MAX_AUDIO_FRAMES, MAX_VISION_FRAMES = 375, 500
AUDIO_DIM, VISION_DIM = 5, 20
SPLITS = {"train": "train", "validation": "valid", "test": "test"}  # ours -> MOSI's `mode`
CONFLICTS = ("none", "A", "V", "AV")
DEFAULTS: dict[str, float] = {"seed": 0, "eta": 1.0, "conflict": 0.12, "confound": 0.0}
POSITIVE, NEGATIVE, OTHER_AUS, POSE = slice(3, 9), slice(9, 15), slice(15, 20), slice(0, 3)

__all__ = ["CONSTANTS", "GENERATOR_VERSION", "Constants", "generate", "is_synmosi", "parse_spec"]


@dataclass(frozen=True)
class Constants:
    """Every number of the generative story (the calibration fixed them; changing one needs a new version)."""

    # timeline
    rate_min: float = 2.0  # speaker's words per second, U(min, max)
    rate_max: float = 3.5
    word_sigma: float = 0.35  # log-normal spread of word durations
    pause_prob: float = 0.25  # chance that a gap between words is a pause
    pause_max: float = 0.6  # pauses U(0.1, max) s
    unvoiced_prob: float = 0.15  # voicing flips inside words
    # latents and conflicts
    arousal_noise: float = 0.1
    conflict_flip: float = 0.7  # v' = -v, else the label of a random train clip
    # vision signal: expression bursts
    burst_rate: float = 0.4  # per second, Poisson
    burst_width_min: float = 0.25  # Gaussian envelope width U(min, max) s
    burst_width_max: float = 0.8
    burst_jitter: float = 0.3  # amplitude (1 + jitter * N(0, 1))
    burst_gain: float = 0.17  # overall scale of the expression bursts
    gain_sigma: float = 0.3  # speaker gain LogNormal(0, sigma)
    other_au_gain: float = 0.5  # arousal bursts on the other AUs
    # audio signal
    f0_excursion: float = 0.25  # std of log-F0 excursions at zero arousal, times (1 + 2 arousal)
    energy_arousal: float = 0.6  # energy bump per unit arousal while voiced
    quality_arousal: float = 0.4  # voice quality: + arousal, - valence
    quality_valence: float = 0.15
    tilt_valence: float = 0.3  # spectral tilt: tilt_valence * v * voicing
    # rest: channel noise, AR(1)
    noise_phi: float = 0.9
    audio_noise: float = 0.35  # stationary std per channel
    vision_noise: float = 0.35
    clip_offset_a: float = 0.4  # per-clip static channel offsets (recording conditions), std
    clip_offset_v: float = 0.6
    # vision nuisance (unit scale, then times vision_nuisance_scale)
    drift_tau_min: float = 2.0  # OU time constant U(min, max) s
    drift_tau_max: float = 5.0
    pose_step: float = 0.03  # head-pose random-walk step per frame
    speaker_offset_v: float = 0.5
    vision_nuisance_scale: float = 0.0765
    # tracking failures: rate ~ Beta(1, beta), blocks of mean length block_frames
    failure_beta: float = 20.0
    failure_block_frames: float = 10.0
    # audio nuisance (unit scale, then times audio_nuisance_scale)
    snr_min_db: float = 5.0
    snr_max_db: float = 30.0
    event_rate: float = 0.1  # non-speech events per second
    speaker_offset_a: float = 0.5
    audio_nuisance_scale: float = 0.375
    # optional confound (train speakers' mean label along the expression loadings)
    confound_gain: float = 1.0


CONSTANTS = Constants()


@dataclass(frozen=True)
class _Clip:
    id: str
    video: str
    text: str
    label: float
    split: str  # MOSI's mode: train / valid / test


def _rng_streams(*key: Any, count: int = 4) -> list[np.random.Generator]:
    """Independent generators from a stable hash of `key` (Python's hash() is salted per process)."""
    digest = hashlib.sha256("|".join(map(str, ("synmosi", GENERATOR_VERSION, *key))).encode()).digest()
    sequence = np.random.SeedSequence(int.from_bytes(digest[:16], "little"))
    return [np.random.default_rng(s) for s in sequence.spawn(count)]


def _read_clips(labels_file: Path) -> list[_Clip]:
    from ..data.readers import read_mosi_labels

    clips = [
        _Clip(c.id, c.id.rsplit("_", 1)[0], c.text, float(c.score), c.split) for c in read_mosi_labels(labels_file)
    ]
    videos: dict[str, set[str]] = defaultdict(set)
    for c in clips:
        videos[c.split].add(c.video)
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        shared = videos[a] & videos[b]
        if shared:
            raise ValueError(
                f"{labels_file}: videos {sorted(shared)[:3]} are in both {a} and {b}; splits must not share speakers"
            )
    return clips


def _ar1(rng: np.random.Generator, frames: int, channels: int, phi: float | np.ndarray) -> np.ndarray:
    """Stationary AR(1) noise of unit std, (frames, channels); phi a scalar or one per channel."""
    phi = np.broadcast_to(np.asarray(phi, dtype=np.float64), (channels,))
    shocks = rng.standard_normal((frames, channels)) * np.sqrt(1 - phi**2)
    if frames:
        shocks[0] /= np.sqrt(1 - phi**2)
    out = np.empty_like(shocks)
    for c in range(channels):  # a handful of channels: lfilter per distinct phi
        out[:, c] = lfilter([1.0], [1.0, -phi[c]], shocks[:, c])
    return out


def _bumps(times: np.ndarray, centres: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """(T, K) Gaussian envelopes at `centres` (s) with `widths` (s), over frame times (T,)."""
    return np.exp(-0.5 * ((times[:, None] - centres[None, :]) / widths[None, :]) ** 2)


def _speaker(seed: int, video: str, k: Constants) -> dict[str, Any]:
    """Per-speaker traits: signal (gain, loadings), nuisance (static offsets), timeline (speech rate)."""
    timeline, signal, nuisance, _ = _rng_streams(seed, "speaker", video)
    return {
        "rate": timeline.uniform(k.rate_min, k.rate_max),
        "gain": signal.lognormal(0.0, k.gain_sigma),
        "load_pos": np.abs(signal.normal(1.0, 0.3, 6)),
        "load_neg": np.abs(signal.normal(1.0, 0.3, 6)),
        "load_other": np.abs(signal.normal(1.0, 0.3, 5)),
        "offset_v": nuisance.normal(0.0, k.speaker_offset_v, VISION_DIM),
        "offset_f0": nuisance.normal(0.0, k.speaker_offset_a),
        "offset_gain": nuisance.normal(0.0, k.speaker_offset_a),
        "offset_tilt": nuisance.normal(0.0, k.speaker_offset_a),
        "confound_draw": signal.standard_normal(),
    }


def _timeline(rng: np.random.Generator, words: int, rate: float, k: Constants) -> tuple[float, np.ndarray]:
    """Clip duration (s) and (words, 2) word intervals: log-normal word durations at the speaker's rate, pauses."""
    durations = rng.lognormal(0.0, k.word_sigma, words) / rate / np.exp(k.word_sigma**2 / 2)
    pauses = np.where(rng.random(words) < k.pause_prob, rng.uniform(0.1, k.pause_max, words), 0.0)
    pauses[0] = rng.uniform(0.1, 0.4)  # leading silence
    starts = np.cumsum(pauses + np.concatenate([[0.0], durations[:-1]]))
    ends = starts + durations
    return float(ends[-1] + rng.uniform(0.1, 0.4)), np.stack([starts, ends], axis=1)


def _latents(rng: np.random.Generator, y: float, p_conflict: float, train_labels: np.ndarray, k: Constants):
    """(v, arousal) seen by audio and by vision, and the conflict kind; the same draws for every p_conflict."""
    u, which, flip, pick, noise = rng.random(), rng.integers(3), rng.random(), rng.random(), rng.normal()
    v = y / 3.0
    other = -v if flip < k.conflict_flip else train_labels[int(pick * len(train_labels))] / 3.0
    kind = CONFLICTS[1 + int(which)] if u < p_conflict else "none"
    v_a = other if kind in ("A", "AV") else v
    v_v = other if kind in ("V", "AV") else v
    return (v_a, abs(v_a) + k.arousal_noise * noise), (v_v, abs(v_v) + k.arousal_noise * noise), kind


def _softplus(x: np.ndarray | float) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _vision(streams, spk, duration, latent, frames, k: Constants) -> dict[str, np.ndarray]:
    """Vision rest, signal and unit nuisance, each (T_v, 20), and the tracking-failure keep mask (T_v, 1)."""
    _, signal_rng, nuisance_rng, noise_rng = streams
    times = (np.arange(frames) + 0.5) / VISION_HZ
    v, arousal = latent
    # signal: Poisson expression bursts on the positive and negative groups, arousal bursts on the other AUs
    count = signal_rng.poisson(k.burst_rate * duration)
    centres = signal_rng.uniform(0.0, duration, count)
    env = _bumps(times, centres, signal_rng.uniform(k.burst_width_min, k.burst_width_max, count))  # (T, K)
    jitter = 1.0 + k.burst_jitter * signal_rng.standard_normal((count, 3))
    gain = k.burst_gain * spk["gain"]
    amp_pos = gain * _softplus(3.0 * (v - 0.1)) * jitter[:, 0]
    amp_neg = gain * _softplus(3.0 * (-v - 0.1)) * jitter[:, 1]
    amp_other = gain * k.other_au_gain * max(arousal, 0.0) * jitter[:, 2]
    signal = np.zeros((frames, VISION_DIM))
    signal[:, POSITIVE] = np.outer(env @ amp_pos, spk["load_pos"])
    signal[:, NEGATIVE] = np.outer(env @ amp_neg, spk["load_neg"])
    signal[:, OTHER_AUS] = np.outer(env @ amp_other, spk["load_other"])
    # nuisance: rank-2 low-frequency drift on all channels, head pose, speaker offsets
    tau = nuisance_rng.uniform(k.drift_tau_min, k.drift_tau_max, 2)
    drift = _ar1(nuisance_rng, frames, 2, np.exp(-1.0 / (VISION_HZ * tau)))
    period, phase = nuisance_rng.uniform(4.0, 12.0, 2), nuisance_rng.uniform(0, 2 * np.pi, 2)
    drift += 0.5 * np.sin(2 * np.pi * times[:, None] / period + phase)
    nuisance = drift @ nuisance_rng.standard_normal((2, VISION_DIM))
    pose = np.cumsum(nuisance_rng.normal(0.0, k.pose_step, (frames, 3)), axis=0)
    pose_channels = np.r_[0:3, 15:20]
    nuisance[:, pose_channels] += pose @ nuisance_rng.standard_normal((3, len(pose_channels)))
    nuisance += spk["offset_v"]
    # rest: AR(1) channel noise; tracking failures zero whole frames (not scaled by eta: a zero cannot be)
    rest = k.vision_noise * _ar1(noise_rng, frames, VISION_DIM, k.noise_phi)
    rest += k.clip_offset_v * noise_rng.standard_normal(VISION_DIM)
    rest[:, 2] += 1.0  # face scale is never 0 while tracked, so failed frames stand out as exact zeros
    rate = noise_rng.beta(1.0, k.failure_beta)
    starts = noise_rng.random(frames) < rate / k.failure_block_frames
    lengths = noise_rng.geometric(1.0 / k.failure_block_frames, frames)
    failed = np.zeros(frames + 1)
    np.add.at(failed, np.flatnonzero(starts), 1)
    np.add.at(failed, np.minimum(np.flatnonzero(starts) + lengths[starts], frames), -1)
    keep = (np.cumsum(failed[:-1]) == 0)[:, None]
    return {"rest": rest, "signal": signal, "nuisance": k.vision_nuisance_scale * nuisance, "keep": keep}


def _audio(streams, spk, duration, intervals, latent, frames, k: Constants) -> dict[str, np.ndarray]:
    """Audio rest, signal and unit nuisance, each (T_a, 5), and the keep mask (all frames kept)."""
    timeline_rng, signal_rng, nuisance_rng, noise_rng = streams
    times = (np.arange(frames) + 0.5) / AUDIO_HZ
    v, arousal = latent
    word = np.searchsorted(intervals[:, 0], times, side="right") - 1
    inside = (word >= 0) & (times < intervals[np.maximum(word, 0), 1])
    voiced = (inside & (timeline_rng.random(frames) >= k.unvoiced_prob)).astype(np.float64)
    arousal = max(arousal, 0.0)
    # signal: arousal drives F0 excursions, energy and voice quality; valence only weakly (quality, tilt)
    excursion = _ar1(signal_rng, frames, 1, 0.95)[:, 0] * k.f0_excursion * (1.0 + 2.0 * arousal)
    signal = np.zeros((frames, AUDIO_DIM))
    signal[:, 1] = voiced * excursion
    signal[:, 2] = voiced * k.energy_arousal * arousal
    signal[:, 3] = voiced * (k.quality_arousal * arousal - k.quality_valence * v)
    signal[:, 4] = voiced * k.tilt_valence * v
    # rest: voicing, F0 declination, speech energy envelope, AR(1) channel noise
    rest = k.audio_noise * _ar1(noise_rng, frames, AUDIO_DIM, k.noise_phi)
    rest += k.clip_offset_a * noise_rng.standard_normal(AUDIO_DIM)
    rest[:, 0] = voiced
    rest[:, 1] = voiced * (1.0 - 0.2 * times / max(duration, 1.0) + rest[:, 1])
    rest[:, 2] += 1.0 * voiced
    rest[:, 3:] *= voiced[:, None]
    # nuisance: background noise (SNR), non-speech events, speaker F0 and gain offsets
    level = 10.0 ** (-nuisance_rng.uniform(k.snr_min_db, k.snr_max_db) / 20.0)
    background = nuisance_rng.standard_normal((frames, 3))
    count = nuisance_rng.poisson(k.event_rate * duration)
    events = _bumps(times, nuisance_rng.uniform(0, duration, count), nuisance_rng.uniform(0.2, 1.0, count))
    event_energy = events @ nuisance_rng.uniform(1.0, 3.0, count)
    nuisance = np.zeros((frames, AUDIO_DIM))
    nuisance[:, 0] = level * background[:, 0]
    nuisance[:, 1] = voiced * (spk["offset_f0"] + level * background[:, 1])
    nuisance[:, 2] = 2.0 * level + level * background[:, 2] + event_energy + spk["offset_gain"]
    nuisance[:, 3] = 0.5 * event_energy
    nuisance[:, 4] = voiced * (spk["offset_tilt"] - 2.0 * level)  # background noise flattens the spectrum
    return {
        "rest": rest,
        "signal": signal,
        "nuisance": k.audio_nuisance_scale * nuisance,
        "keep": np.ones((frames, 1), dtype=bool),
    }


def _labels_file(data_dir: str | Path | None, labels_file: str | Path | None) -> Path:
    if labels_file is not None:
        return Path(labels_file)
    from ..data.datasets import DataNotFoundError
    from ..data.datasets import data_dir as find_data_dir

    path = find_data_dir(data_dir) / "mosi" / "MOSI-label.csv"
    if not path.exists():
        raise DataNotFoundError(f"{path}: SynMOSI needs the MOSI transcripts and labels (mosi/MOSI-label.csv)")
    return path


def generate(
    split: str,
    *,
    seed: int = 0,
    eta: float = 1.0,
    conflict: float = 0.12,
    confound: float = 0.0,
    data_dir: str | Path | None = None,
    with_parts: bool = False,
    labels_file: str | Path | None = None,
    constants: Constants = CONSTANTS,
) -> list[MultimodalExample]:
    """The SynMOSI clips of `split` ("train", "validation", "test") in MOSI's order.

    eta: nuisance amplitude (ratio of nuisance to signal scale); conflict: chance that A, V or both follow
    another valence; confound: strength of the train-only speaker shortcut (0 = off). with_parts: fill `parts`
    with audio_signal, audio_nuisance, vision_signal, vision_nuisance (the nuisance already times eta) so that
    `x - parts[name]` removes exactly that component. labels_file: a MOSI-label.csv to use instead of the one in
    the data folder. `constants` is for calibration only: data made with other constants is not SynMOSI 1.0.
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {list(SPLITS)}")
    if eta < 0 or not 0 <= conflict <= 1 or confound < 0:
        raise ValueError(f"eta {eta} and confound {confound} must be >= 0, conflict {conflict} in [0, 1]")
    clips = _read_clips(_labels_file(data_dir, labels_file))
    train_labels = np.array([c.label for c in clips if c.split == "train"])
    if len(train_labels) == 0:
        raise ValueError("the MOSI label file has no train clips; conflicts draw their valence from train labels")
    by_video: dict[str, list[float]] = defaultdict(list)
    for c in clips:
        if c.split == "train":
            by_video[c.video].append(c.label)
    speaker_means = {video: float(np.mean(labels)) / 3.0 for video, labels in by_video.items()}
    spread = float(np.std(list(speaker_means.values())))
    speakers: dict[str, dict[str, Any]] = {}
    examples = []
    for clip in (c for c in clips if c.split == SPLITS[split]):
        if clip.video not in speakers:
            speakers[clip.video] = _speaker(seed, clip.video, constants)
        examples.append(
            _generate_clip(
                clip,
                speakers[clip.video],
                seed,
                eta,
                conflict,
                confound,
                train_labels,
                constants,
                speaker_means.get(clip.video, spread * speakers[clip.video]["confound_draw"]),
                with_parts,
            )
        )
    return examples


def _generate_clip(clip, spk, seed, eta, p_conflict, confound, train_labels, k, speaker_mean, with_parts):
    streams = _rng_streams(seed, clip.id)
    words = max(1, len(clip.text.split()))
    duration, intervals = _timeline(streams[0], words, spk["rate"], k)
    frames_a = int(min(MAX_AUDIO_FRAMES, max(1, round(duration * AUDIO_HZ))))
    frames_v = int(min(MAX_VISION_FRAMES, max(1, round(duration * VISION_HZ))))
    latent_a, latent_v, kind = _latents(streams[1], clip.label, p_conflict, train_labels, k)
    audio = _audio(streams, spk, duration, intervals, latent_a, frames_a, k)
    vision = _vision(streams, spk, duration, latent_v, frames_v, k)
    if confound:
        # a train-only shortcut: train speakers' mean label along the expression loadings; others random
        vision["rest"][:, POSITIVE] += confound * k.confound_gain * speaker_mean * spk["load_pos"]
        vision["rest"][:, NEGATIVE] -= confound * k.confound_gain * speaker_mean * spk["load_neg"]
    arrays, parts = {}, {}
    for name, p in (("audio", audio), ("vision", vision)):
        signal, nuisance = p["signal"] * p["keep"], eta * p["nuisance"] * p["keep"]
        arrays[name] = (p["rest"] * p["keep"] + signal + nuisance).astype(np.float32)
        if with_parts:
            parts[f"{name}_signal"] = signal.astype(np.float32)
            parts[f"{name}_nuisance"] = nuisance.astype(np.float32)
    meta = {
        "speaker": clip.video,
        "conflict": kind,
        "eta": float(eta),
        "words": words,
        "duration_s": round(duration, 3),
        "generator": f"synmosi-{GENERATOR_VERSION}",
    }
    return MultimodalExample(
        text=clip.text,
        audio=arrays["audio"],
        vision=arrays["vision"],
        label=clip.label,
        id=clip.id,
        source=f"synmosi:seed={seed}#{clip.id}",
        meta=meta,
        parts=parts,
    )


def parse_spec(name: str) -> dict[str, float]:
    """`"synmosi"` -> the defaults; `"synmosi:eta=2,seed=3"` -> those values over the defaults."""
    head, _, tail = name.partition(":")
    if head != "synmosi":
        raise ValueError(f"{name!r} is not a SynMOSI name; expected 'synmosi' or 'synmosi:key=value,...'")
    spec = dict(DEFAULTS)
    for item in filter(None, (s.strip() for s in tail.split(","))):
        key, eq, value = item.partition("=")
        if key not in DEFAULTS or not eq:
            raise ValueError(f"{name!r}: {item!r} is not key=value with a known key; known keys: {list(DEFAULTS)}")
        try:
            number = int(value) if key == "seed" else float(value)
        except ValueError:
            raise ValueError(f"{name!r}: {key}={value!r} is not a number; known keys: {list(DEFAULTS)}") from None
        if (key in ("eta", "confound") and not number >= 0) or (key == "conflict" and not 0 <= number <= 1):
            raise ValueError(f"{name!r}: {key}={value} is out of range (eta, confound >= 0; conflict in [0, 1])")
        spec[key] = number
    return spec


def is_synmosi(name: str) -> bool:
    """Whether a dataset name asks for SynMOSI ("synmosi" or "synmosi:...")."""
    return name == "synmosi" or name.startswith("synmosi:")


def constants_dict(constants: Constants = CONSTANTS) -> dict[str, float]:
    """The generator's constants as a JSON-ready dict (for the card and the calibration record)."""
    return asdict(constants)
