"""SKESL's multimodal pretraining task: mask each clip transcript's strongest lexicon word and regress its valence from
the text AND the clip's audio and vision (`skesl-mm`, `models/multimodal/skesl.py`; `../shared/MULTIMODAL.md` 4.3).

The unlabelled clip pool, and why it is honest:
- The reference pretrains on EmoVoxCeleb, clips with audio, video and ASR transcripts and no sentiment labels. We
  have no such corpus offline, so `data.train` names a multimodal source that the regression task reads (`synmosi`,
  `synmosi:eta=2,seed=3`, a folder of .npz splits or of clips with label.csv), and ONLY ITS TRAIN SPLIT is read:
  the validation and test clips are never requested (a single .npz file has no splits: it is read whole, so give
  one that holds training clips only). Several sources may be joined with " + " (each one's train split).
- Every label is dropped where the clips are read (`unlabelled_clips`): the clip keeps its transcript, frames, id
  and speaker, and nothing else (no label, no annotation, no generator meta such as the conflict flag). The masking
  (`encode_clips`) refuses a clip that still carries a label, and the items it makes have no field for one: their
  only target is the masked word's lexicon valence, a function of the transcript alone.
- SynMOSI's A/V are generated FROM the labels (that is what makes them informative). Pretraining on `synmosi`'s
  train split with the fine-tuning run's own spec (the default config) therefore sees exactly the clips, and the
  same frames, that fine-tuning then sees with their labels: no clip and no draw that fine-tuning does not have.
  The comparison with the no-pretraining arm then measures the objective, not extra data. A pool with other seeds
  or eta (e.g. "synmosi + synmosi:seed=7") adds new label-driven draws of the same train transcripts: more
  (indirectly label-informed) training signal that the no-pretraining arm does not get; report it as such.
- Unlike the reference, the pool is small (1,284 MOSI train clips) and of the same domain as fine-tuning; SKESL's
  claim is about a large out-of-domain corpus, which this setting does not test.

Held-out slice (selection, "mae" on the masked-word valence): whole speakers of the same unlabelled pool, in a fixed
order (a shuffle with seed 0 whatever the training seed), taken until about `model.heldout` clips (at most 20 % of
the pool); `data.train_subset` takes the first N of the remaining clips in that fixed order. The held-out fallback
positions (clips without a lexicon word) are drawn once from a seed; training ones at each read.

What the best folder holds for fine-tuning: `encoder/` (the text encoder, adapters merged, with its tokenizer:
`export_encoder`) and in it `injection.safetensors` + `injection.json` (the injection block and the settings that
define it), and `pretraining.json` (pool, split and masking counts). `skesl-ft` with `model.init_from: FOLDER`
starts from both.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..config import ConfigError, ExperimentConfig
from ..data.masking import IntensityItem, MaskingStats, SentimentWordMasker, collate_intensity, fix_fallbacks
from ..models.multimodal.skesl import (
    INJECTION_SETTINGS,
    INJECTION_WEIGHTS,
    PRETRAIN_TASK,
    MaskedClipBatch,
    block_settings,
    clip_batch,
)
from ..models.pretraining import PRETRAINING_LABELS
from ..types import MultimodalExample
from .base import TASKS, Metrics, Outputs, TrainingData, refuse_class_weights
from .pretraining import ENCODER_DIR, ORDER_SEED, VALIDATION_SEED, SentimentWordPretraining, constant_mae

HELDOUT_SHARE = 0.2  # at most this share of the pool's clips is held out
JOIN = "+"


@dataclass(frozen=True, eq=False)
class ClipIntensityItem:
    """One encoded unlabelled clip: the masked transcript (its target is the masked word's valence, not the clip's
    sentiment) and the clip's real frames, audio (T_a, D_a) and vision (T_v, D_v)."""

    text: IntensityItem
    audio: np.ndarray
    vision: np.ndarray


def speaker_of(clip: MultimodalExample) -> str:
    """The clip's speaker: meta["speaker"], else the id up to its last "_" (MOSI's video id), else the id."""
    speaker = clip.meta.get("speaker") if clip.meta else None
    if speaker:
        return str(speaker)
    return (clip.id or "").rsplit("_", 1)[0] or str(clip.id)


def unlabelled_clips(source: str, data_dir: str | None = None, trust_pickle: bool = False) -> list[MultimodalExample]:
    """The TRAIN clips of each " + "-joined source, stripped to text, frames, id and speaker (no label, no meta)."""
    from ..config import DataConfig
    from .multimodal import MultimodalRegression

    reader = MultimodalRegression(data=DataConfig(train=source, trust_pickle=trust_pickle))
    clips = []
    for part in (s.strip() for s in source.split(JOIN)):
        if not part:
            raise ConfigError(f"data.train {source!r}: an empty source around {JOIN!r}")
        for x in reader.examples(part, "train", data_dir):
            meta = {"speaker": speaker_of(x)}  # the label, annotation and generator meta stay behind
            clips.append(MultimodalExample(x.text, x.audio, x.vision, id=x.id, source=x.source, meta=meta))
    return clips


def split_clips(
    clips: Sequence[MultimodalExample], heldout: int, subset: int | None
) -> tuple[list[MultimodalExample], list[MultimodalExample]]:
    """(training clips, held-out clips): whole speakers held out in a fixed order (see the module docstring)."""
    speakers = sorted({speaker_of(x) for x in clips})
    random.Random(ORDER_SEED).shuffle(speakers)
    counts = {s: 0 for s in speakers}
    for x in clips:
        counts[speaker_of(x)] += 1
    cap = int(len(clips) * HELDOUT_SHARE)
    held_speakers: set[str] = set()
    held_count = 0
    for s in speakers[:-1]:  # at least one speaker stays for training
        if held_count >= min(heldout, cap):
            break
        if held_count + counts[s] <= cap:
            held_speakers.add(s)
            held_count += counts[s]
    if not held_speakers:
        raise ValueError(
            f"{len(clips)} clips of {len(speakers)} speaker(s): no whole speaker fits in a held-out slice of at most "
            f"{HELDOUT_SHARE:.0%} of the clips; give more clips or more speakers"
        )
    order = list(clips)
    random.Random(ORDER_SEED).shuffle(order)
    held = [x for x in order if speaker_of(x) in held_speakers]
    train = [x for x in order if speaker_of(x) not in held_speakers]
    if subset is not None:
        if subset < 1:
            raise ConfigError(f"data.train_subset must be >= 1, got {subset}")
        train = train[:subset]
    return train, held


def encode_clips(masker: SentimentWordMasker, clips: Sequence[MultimodalExample]) -> list[ClipIntensityItem]:
    """Unlabelled clips -> items (masked transcript + frames). A clip with a label is refused: pretraining must not
    see one (read clips with `unlabelled_clips`)."""
    labelled = next((x for x in clips if x.label is not None), None)
    if labelled is not None:
        raise ValueError(
            f"{labelled.source or labelled.id or 'a clip'} carries a sentiment label; multimodal pretraining takes "
            "unlabelled clips only (drop the labels, as unlabelled_clips does)"
        )
    texts = masker.encode([x.text for x in clips])
    return [ClipIntensityItem(t, x.audio, x.vision) for t, x in zip(texts, clips, strict=True)]


def export_injection(folder: str | Path) -> Path:
    """Write the injection block of the checkpoint in `folder` (its trained tensors) and its defining settings into
    `folder/encoder/`, beside the exported encoder. Returns the settings file."""
    from safetensors.torch import load_file, save_file

    from ..hub import read_manifest
    from ..models.base import WEIGHTS_FILE, model_config

    folder = Path(folder)
    config = model_config(read_manifest(folder).model)
    state = load_file(str(folder / WEIGHTS_FILE))
    block = {k.removeprefix("injection."): v for k, v in state.items() if k.startswith("injection.")}
    target = folder / ENCODER_DIR
    with open(target / "config.json", encoding="utf-8") as f:
        text_dim = int(json.load(f)["hidden_size"])
    save_file(block, str(target / INJECTION_WEIGHTS))
    settings = block_settings(config, text_dim, config.audio_dim, config.vision_dim)
    path = target / INJECTION_SETTINGS
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass
class MultimodalSentimentWordPretraining(SentimentWordPretraining):
    """SKESL's multimodal pretraining on unlabelled clips (see the module docstring)."""

    name: ClassVar[str] = PRETRAIN_TASK
    metric: ClassVar[str] = "mae"

    @classmethod
    def for_training(
        cls, config: ExperimentConfig, model_config: Any
    ) -> tuple[MultimodalSentimentWordPretraining, TrainingData]:
        from ..encoders.text import load_tokenizer
        from ..multimodal.example import check_dims

        refuse_class_weights(config, cls.name)
        data = config.data
        if data.validation is not None:
            raise ConfigError(
                "data.validation: multimodal pretraining selects on a held-out slice of its own unlabelled pool and "
                "reads no validation clips; remove data.validation"
            )
        clips = unlabelled_clips(data.train, data.data_dir, data.trust_pickle)
        dims = check_dims(clips, f"pretraining clips {data.train!r}")
        train, held = split_clips(clips, model_config.heldout, data.train_subset)
        task = cls(PRETRAINING_LABELS, load_tokenizer(model_config.backbone), data.max_length)
        masker = task.masker(config, model_config)
        train_items = encode_clips(masker, train)
        stats, masker.stats = masker.stats, MaskingStats()
        held_items = encode_clips(masker, held)
        fixed = fix_fallbacks(
            [x.text for x in held_items], VALIDATION_SEED, task.tokenizer.mask_token_id, data.max_length
        )
        held_items = [replace(x, text=t) for x, t in zip(held_items, fixed, strict=True)]
        task.info = {
            "source": data.train,
            "split_read": "train",
            "labels": "dropped when read",
            "clips": len(clips),
            "speakers": len({speaker_of(x) for x in clips}),
            "train": len(train_items),
            "heldout": len(held_items),
            "heldout_speakers": sorted({speaker_of(x) for x in held}),
            "dims": list(dims),
            "train_tokens": int(sum(len(x.text.input_ids) for x in train_items)),
            "heldout_mae_of_train_median": constant_mae(
                [x.text.label for x in train_items], [x.text.label for x in held_items]
            ),
            "lexicon": {"entries": len(masker.lexicon), "match": model_config.match},
            "masking": {"train": stats.as_dict(), "heldout": masker.stats.as_dict()},
        }
        overrides = {"audio_dim": dims[0], "vision_dim": dims[1]}
        return task, TrainingData(train_items, held_items, task._save_extra, overrides)

    def _save_extra(self, directory: Path) -> None:
        super()._save_extra(directory)  # encoder/ and pretraining.json
        export_injection(directory)

    def length(self, item: ClipIntensityItem) -> int:
        return len(item.text.input_ids) + item.audio.shape[0] + item.vision.shape[0]

    def collate(self, items: Sequence[ClipIntensityItem]) -> MaskedClipBatch:
        mask_id, pad_id = self.tokenizer.mask_token_id, self.tokenizer.pad_token_id
        text = collate_intensity([x.text for x in items], mask_id, self.max_length, pad_id)
        return clip_batch(text, [x.audio for x in items], [x.vision for x in items])

    def score(self, outputs: Outputs, items: Sequence[ClipIntensityItem]) -> Metrics:
        return super().score(outputs, [x.text for x in items])


TASKS.add(MultimodalSentimentWordPretraining.name, MultimodalSentimentWordPretraining)
