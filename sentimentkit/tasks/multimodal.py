"""Multimodal sentiment regression: a clip's transcript, audio and vision frames -> a sentiment value in [-3, 3].

Data sources (`examples`): `mosi-text` (the real CMU-MOSI transcripts and labels, no audio or vision), `synmosi`
or `synmosi:eta=2,seed=3` (the generated benchmark, `multimodal/synmosi.py`), a folder of the safe format holding
`train.npz`/`valid.npz`/`test.npz` (`multimodal/npz.py`), one `.npz` file (every split reads it: give the validation
file in `data.validation`), an MMSA feature pickle (read only with `data.trust_pickle: true`, converted once to the
safe format beside it) and a folder of the user's own clips with an MMSA-style `label.csv` (`multimodal/clips.py`).

Scores are MMSA's regression metrics (`multimodal/metrics.py`); selection defaults to validation MAE. A prediction
carries `value` (clipped to [-3, 3]), `score` = value / 3 in [-1, 1], and a polarity: neutral when the value rounds
to 0 (|value| < 0.5, MOSI's Acc-7 class 0), else its sign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..config import DataConfig, ExperimentConfig
from ..data.collate import MultimodalBatch, pad_multimodal_batch
from ..data.encoding import MultimodalItem, Tokenizer, encode_texts
from ..hub import Manifest
from ..labels import LabelSet
from ..types import MultimodalExample, Prediction
from .base import TASKS, Metrics, Outputs, TrainingData, forward_batches, refuse_class_weights, subset

if TYPE_CHECKING:
    from torch import nn

    from ..models.base import Runtime

VALUE = LabelSet(("value",))  # one output: the sentiment value
SPLITS = {"train": "train", "validation": "validation", "valid": "validation", "dev": "validation", "test": "test"}
RANGE = 3.0  # MOSI's label range [-3, 3]
NEUTRAL_BAND = 0.5  # |value| below this rounds to class 0 of MMSA's Acc-7


@dataclass
class MultimodalRegression:
    """The multimodal regression task for one tokenizer, text window and pair of feature sizes."""

    name: ClassVar[str] = "multimodal-regression.v1"
    metric: ClassVar[str] = "mae"

    labels: LabelSet = VALUE
    tokenizer: Tokenizer | None = None
    max_length: int = 50
    dims: tuple[int, int] | None = None  # (D_a, D_v) the model was built for
    data: DataConfig = field(default_factory=DataConfig)

    # --- construction -------------------------------------------------------------------------------------
    @classmethod
    def for_training(cls, config: ExperimentConfig, model_config: Any) -> tuple[MultimodalRegression, TrainingData]:
        """Read train and validation, fix the feature sizes from the data and encode both."""
        from ..encoders.text import load_tokenizer
        from ..multimodal.example import check_dims

        refuse_class_weights(config, cls.name)
        data = config.data
        task = cls(VALUE, None, data.max_length, None, data)
        train = task.examples(data.train, "train", data.data_dir)
        validation = task.examples(data.validation or data.train, "validation", data.data_dir)
        for what, examples in (("train data", train), ("validation data", validation)):
            unlabelled = [x for x in examples if x.label is None]
            if unlabelled:
                raise ValueError(f"{what}: {unlabelled[0].source or unlabelled[0].id} has no label")
        task.dims = check_dims(train, f"train data {data.train!r}")
        if check_dims(validation, "validation data") != task.dims:
            raise ValueError(f"validation clips have feature sizes {validation[0].dims}, train clips {task.dims}")
        train = subset(train, data.train_subset, config.train.seed)
        task.tokenizer = load_tokenizer(model_config.backbone)
        overrides = {"audio_dim": task.dims[0], "vision_dim": task.dims[1]}
        return task, TrainingData(task.encode(train), task.encode(validation), None, overrides, train)

    @classmethod
    def from_manifest(cls, manifest: Manifest, runtime: Runtime) -> tuple[MultimodalRegression, nn.Module]:
        from ..models.base import load_checkpoint, load_model_tokenizer

        model, manifest = load_checkpoint(manifest, runtime)
        pre = manifest.preprocessing
        dims = (int(pre["dims"][0]), int(pre["dims"][1])) if pre.get("dims") else None
        return cls(VALUE, load_model_tokenizer(manifest, runtime), int(pre.get("max_length", 50)), dims), model

    def preprocessing(self) -> dict[str, Any]:
        return {"max_length": self.max_length, "dims": list(self.dims) if self.dims else None}

    # --- data ---------------------------------------------------------------------------------------------
    def examples(self, source: str, split: str, data_dir: str | None = None) -> list[MultimodalExample]:
        """The clips of `split` ("train", "validation" or "test") of a named or generated dataset, a folder or file."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {sorted(set(SPLITS.values()))}")
        split = SPLITS[split]
        if source == "mosi-text":
            return mosi_text(split, data_dir)
        from ..multimodal import synmosi

        if synmosi.is_synmosi(source):
            return synmosi.generate(split, data_dir=data_dir, **synmosi.parse_spec(source))
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(
                f"{source!r} is neither a multimodal dataset (mosi-text, synmosi[:key=value,...]) nor an existing "
                "file or folder (.npz, an MMSA .pkl, a folder of .npz splits or of clips with label.csv)"
            )
        return read_source(path, split, trust_pickle=self.data.trust_pickle)

    def encode(self, examples: Sequence[MultimodalExample]) -> list[MultimodalItem]:
        """Transcripts -> token ids (cut to `max_length`); frames as they are; the label as a float target."""
        if self.tokenizer is None:
            raise RuntimeError("the task has no tokenizer yet")
        texts = encode_texts(self.tokenizer, [x.text for x in examples], self.max_length)
        return [
            MultimodalItem(t.input_ids, x.audio, x.vision, None if x.label is None else float(x.label), t.truncated)
            for t, x in zip(texts, examples, strict=True)
        ]

    def length(self, item: MultimodalItem) -> int:
        return len(item.input_ids) + item.audio.shape[0] + item.vision.shape[0]

    def collate(self, items: Sequence[MultimodalItem]) -> MultimodalBatch:
        return pad_multimodal_batch(items)

    # --- scoring ------------------------------------------------------------------------------------------
    def values(self, outputs: Outputs, n: int) -> np.ndarray:
        """The predicted value of each item, in item order (raw: not clipped)."""
        result = np.zeros(n, dtype=np.float64)
        for idx, out in outputs:
            logits = out.logits
            values = logits if isinstance(logits, np.ndarray) else logits.float().numpy()
            result[idx] = values.reshape(len(idx), -1)[:, 0]
        return result

    def score(self, outputs: Outputs, items: Sequence[MultimodalItem]) -> Metrics:
        from ..multimodal.metrics import mmsa_regression

        truth = np.array([x.label for x in items], dtype=np.float64)
        return mmsa_regression(self.values(outputs, len(items)), truth)

    def predict_values(self, model: nn.Module, items: Sequence[MultimodalItem], batch_size: int) -> np.ndarray:
        """Raw predicted values of encoded items (what robustness sweeps call on corrupted items)."""
        return self.values(list(forward_batches(model, self, items, batch_size)), len(items))

    def evaluate(self, model: nn.Module, examples: Sequence[MultimodalExample], batch_size: int) -> Metrics:
        labelled = [x for x in examples if x.label is not None]
        if not labelled:
            raise ValueError("the clips have no labels to score against")
        self.check_clip_dims(labelled)
        items = self.encode(labelled)
        outputs = list(forward_batches(model, self, items, batch_size))
        return self.score(outputs, items)

    def check_clip_dims(self, examples: Sequence[MultimodalExample]) -> None:
        """Every clip has the feature sizes the model was built for, else ValueError naming the first that differs."""
        if self.dims is None:
            return
        for x in examples:
            if x.dims != self.dims:
                raise ValueError(self._dims_error(x))

    def _dims_error(self, x: MultimodalExample) -> str:
        return (
            f"{x.source or x.id or 'clip'} has audio/vision feature sizes {x.dims}; the model was trained on "
            f"{tuple(self.dims or ())}: extract the clip's features as its training data was"
        )

    # --- inference ----------------------------------------------------------------------------------------
    def as_inputs(self, inputs: Any) -> list[MultimodalExample]:
        """What a pipeline accepts: a MultimodalExample, a clip file written by `sentimentkit features` or any .npz
        of the safe format (every clip in it), or a list of these."""
        if isinstance(inputs, MultimodalExample | str | Path):
            inputs = [inputs]
        out: list[MultimodalExample] = []
        for i, x in enumerate(inputs):
            if isinstance(x, MultimodalExample):
                out.append(x)
            elif isinstance(x, str | Path) and Path(x).suffix == ".npz":
                from ..multimodal.npz import load_examples

                out.extend(load_examples(Path(x)))
            elif isinstance(x, str | Path) and Path(x).suffix.lower() in {".wav", ".mp4", ".mp3", ".mkv", ".mov"}:
                raise ValueError(
                    f"input {i} ({x}) is a media file: extract its features first with "
                    "`sentimentkit features CLIP --transcript TEXT -o clip.npz` (or "
                    "sentimentkit.multimodal.features.extract_clip) and pass the .npz or the MultimodalExample"
                )
            else:
                raise TypeError(f"input {i} is a {type(x).__name__}; expected a MultimodalExample or a .npz clip file")
        return out

    def predict(
        self,
        model: nn.Module,
        inputs: Sequence[MultimodalExample],
        batch_size: int,
        on_batch: Callable[[int], None] | None = None,
        **options: Any,
    ) -> list[Prediction]:
        """One Prediction per clip: a blank transcript or clips with other feature sizes get one with `error`."""
        if options:
            raise TypeError(f"unknown option(s) for multimodal regression: {', '.join(sorted(options))}")
        results: list[Prediction | None] = [None] * len(inputs)
        scored = []
        for i, x in enumerate(inputs):
            if not x.text.strip():
                results[i] = _failed(x, "blank transcript: there is no text to score")
            elif self.dims is not None and x.dims != self.dims:
                results[i] = _failed(x, self._dims_error(x))
            else:
                scored.append(i)
        items = self.encode([replace(inputs[i], label=None) for i in scored])
        values = self.values(list(forward_batches(model, self, items, batch_size, on_batch)), len(items))
        for k, i in enumerate(scored):
            results[i] = value_prediction(inputs[i], float(values[k]), items[k].truncated)
        return results  # type: ignore[return-value]


def value_prediction(example: MultimodalExample, raw: float, truncated: bool = False) -> Prediction:
    """A Prediction of a sentiment value: clipped to [-3, 3], its polarity and a score in [-1, 1]."""
    value = float(np.clip(raw, -RANGE, RANGE))
    polarity = "neutral" if abs(value) < NEUTRAL_BAND else ("positive" if value > 0 else "negative")
    return Prediction(
        text=example.text,
        id=example.id,
        polarity=polarity,
        score=value / RANGE,
        value=value,
        truncated=truncated,
        fields=example.fields,
    )


def _failed(example: MultimodalExample, error: str) -> Prediction:
    return Prediction(text=example.text, id=example.id, error=error, fields=example.fields)


def mosi_text(split: str, data_dir: str | None = None) -> list[MultimodalExample]:
    """The real CMU-MOSI transcripts and labels as clips without audio or vision ((0, 0) arrays)."""
    from ..data.datasets import data_dir as find_data_dir
    from ..data.readers import read_mosi_labels

    path = find_data_dir(data_dir) / "mosi" / "MOSI-label.csv"
    mode = {"train": "train", "validation": "valid", "test": "test"}[split]
    empty = np.zeros((0, 0), dtype=np.float32)
    return [
        MultimodalExample(
            text=x.text,
            audio=empty,
            vision=empty,
            label=x.score,
            id=x.id,
            source=x.source,
            meta={"speaker": x.id.rsplit("_", 1)[0], "annotation": x.annotation},
        )
        for x in read_mosi_labels(path)
        if x.split == mode
    ]


def read_source(path: Path, split: str, *, trust_pickle: bool = False) -> list[MultimodalExample]:
    """The clips of `split` in a file or folder of the user's (see the module docstring for the kinds)."""
    mode = {"train": "train", "validation": "valid", "test": "test"}[split]
    if path.is_dir():
        if (path / "label.csv").exists():
            from ..multimodal.clips import read_clip_folder

            return read_clip_folder(path, mode)
        from ..multimodal.npz import load_split

        return load_split(path, split)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        from ..multimodal.npz import load_examples

        return load_examples(path)
    if suffix in {".pkl", ".pickle"}:
        from ..multimodal.mmsa import convert_mmsa
        from ..multimodal.npz import load_examples

        converted = convert_mmsa(path, path.parent / f"{path.stem}.converted", trust_pickle=trust_pickle)
        return load_examples(converted[split if split in converted else mode])
    raise ValueError(f"{path}: expected a .npz file, an MMSA .pkl, or a folder (of .npz splits or with label.csv)")


TASKS.add(MultimodalRegression.name, MultimodalRegression)
