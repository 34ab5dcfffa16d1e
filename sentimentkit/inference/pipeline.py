"""Pipeline: texts in, typed predictions out. Uses the training code's own encoding (no drift)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..labels import BINARY, FIVE_TO_THREE, POLARITY3, SENTIMENT5, LabelSet
from ..types import Prediction


class Pipeline:
    """Document sentiment for any text-classifier checkpoint.

    For a 5-point model: `label` is the 5-point class, `polarity` the 3-way collapse (0-1 negative,
    2 neutral, 3-4 positive, by summed probability), and `score` the expected value of the scale mapped to
    [-1, 1]. For other label sets, `label` and `polarity` are the argmax class and `score` is
    p(positive) - p(negative) where those labels exist, else 0. With `aspects` (an AspectPipeline that can
    extract), each prediction also lists the text's aspects with their polarity (`Prediction.aspects`).
    """

    def __init__(self, model, meta: dict, tokenizer, batch_size: int = 32, aspects=None) -> None:
        self.model, self.meta, self.tokenizer, self.batch_size = model, meta, tokenizer, batch_size
        self.aspects = aspects  # an AspectPipeline with an extractor: predictions then carry their aspects
        self.labels = LabelSet(tuple(meta["labels"]))
        self.max_length = int(meta.get("max_length", 128))
        self.truncation = meta.get("truncation", "head")

    @classmethod
    def from_pretrained(cls, directory: str | Path, batch_size: int = 32, merge_adapters: bool = False) -> Pipeline:
        """Load a saved model. `merge_adapters` folds LoRA into the weights: about 1 s once, then faster
        batches; worth it for bulk scoring, not for a single sentence (cold start)."""
        from ..models import MODELS, load_checkpoint
        from ..models.base import load_model_tokenizer, read_meta

        # Models that accept it run on the plain-torch BERT when their backbone is one (fast start-up).
        fields = MODELS.get(read_meta(directory)["model"]["type"]).config_cls.__dataclass_fields__
        implementation = "native" if "implementation" in fields else "transformers"
        model, meta = load_checkpoint(
            directory, {"implementation": implementation} if implementation == "native" else None
        )
        encoder = getattr(model, "encoder", None)
        if merge_adapters and encoder is not None and hasattr(encoder, "merge_adapters"):
            encoder.merge_adapters()
        return cls(model, meta, load_model_tokenizer(meta, directory, implementation), batch_size)

    def __call__(
        self,
        texts: str | Sequence[str],
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[Prediction]:
        """Predict each text. A single string gives a one-element list."""
        from ..data.collate import Encoded, encode_texts
        from .predict import predict_logits, softmax

        if isinstance(texts, str):
            texts = [texts]
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is a {type(text).__name__}; expected str")
        if not texts:
            return []
        ids = encode_texts(self.tokenizer, texts, self.max_length, self.truncation)
        logits = predict_logits(self.model, [Encoded(x) for x in ids], batch_size or self.batch_size, on_batch)
        probs = softmax(logits)
        predictions = [self._prediction(t, p) for t, p in zip(texts, probs, strict=True)]
        if self.aspects is None:
            return predictions
        found = self.aspects(texts, batch_size=batch_size)
        return [replace(p, aspects=tuple(a)) for p, a in zip(predictions, found, strict=True)]

    def _prediction(self, text: str, p: np.ndarray) -> Prediction:
        names = self.labels.names
        probabilities = {n: float(v) for n, v in zip(names, p, strict=True)}
        label = names[int(p.argmax())]
        if self.labels == SENTIMENT5:
            three = {n: 0.0 for n in POLARITY3.names}
            for name, value in probabilities.items():
                three[FIVE_TO_THREE[name]] += value
            polarity = max(three, key=three.get)
            score = float(np.dot(p, np.linspace(-1.0, 1.0, len(names))))
        else:
            polarity = label
            score = probabilities.get("positive", 0.0) - probabilities.get("negative", 0.0)
            if self.labels not in (BINARY, POLARITY3):
                score = 0.0
        return Prediction(text=text, label=label, polarity=polarity, score=score, probabilities=probabilities)
