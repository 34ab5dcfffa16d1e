"""Request and response models of the service (pydantic v2), mirroring `Prediction` and `AspectPrediction`.

Requests are strict (a number is not a string, a string is not a boolean) and closed (an unknown field is an
error naming it), so a typo fails with a 422 instead of being ignored. Every string must be valid Unicode
without NUL characters: JSON allows lone surrogates ("\\ud800"), which neither the tokenizer nor a SQL store can
take. Size limits (texts per request, characters per text) are settings of the server and are checked by the
routes (413), not here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from ..types import AspectPrediction, Prediction

DIGITS = 4  # floats in responses are rounded like Prediction.to_dict()


def _unicode(value: str) -> str:
    """Refuse strings that cannot be encoded as UTF-8 (lone surrogates) or that hold NUL characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"character {err.start} is a lone surrogate ({value[err.start]!r}), not valid Unicode"
        ) from None
    if "\x00" in value:
        raise ValueError(f"character {value.index(chr(0))} is a NUL character")
    return value


def _check_json(value: Any, where: str = "metadata") -> None:
    if isinstance(value, str):
        try:
            _unicode(value)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, where)
            _check_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")


Text = Annotated[str, AfterValidator(_unicode)]
Id = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_unicode)]
Term = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_unicode)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Item(_Strict):
    """One text with an optional id and metadata (metadata travels to the response and to the store; the store
    reads the product from `metadata.product_id`)."""

    id: Id | None = Field(None, description="Your id for this text; default: its position in the request, from 1.")
    text: Text = Field(description="The text to analyze.")
    metadata: dict[str, JsonValue] | None = Field(None, description="Any JSON object; returned with the prediction.")

    @model_validator(mode="after")
    def _metadata_is_unicode(self) -> Item:
        if self.metadata is not None:
            _check_json(self.metadata)
        return self


class AnalyzeRequest(_Strict):
    """Texts to analyze: `items` (with ids and metadata) or `texts` (the shorthand), not both."""

    items: list[Item] | None = Field(None, min_length=1, description="Texts with optional ids and metadata.")
    texts: list[Text] | None = Field(None, min_length=1, description="Shorthand for items without ids.")
    aspects: bool | None = Field(
        None, description="Also find each text's aspects; null: on when the server has an aspect model."
    )
    aspect_terms: list[Term] | None = Field(
        None, min_length=1, description="Score these aspect terms wherever they occur instead of extracting terms."
    )
    long_texts: Literal["truncate", "chunks"] = Field(
        "truncate", description="Texts longer than the document model's window: read the start, or score chunks."
    )

    @model_validator(mode="after")
    def _one_source(self) -> AnalyzeRequest:
        if (self.items is None) == (self.texts is None):
            raise ValueError("give either `items` or `texts` (a non-empty list), not both and not neither")
        if self.aspect_terms is not None and self.aspects is False:
            raise ValueError("`aspect_terms` goes with `aspects: true` (or null), not `aspects: false`")
        if self.items is not None:
            seen: dict[str, int] = {}
            for i, item in enumerate(self.items):
                if item.id is not None:
                    if item.id in seen:
                        raise ValueError(f"items[{i}].id {item.id!r} repeats items[{seen[item.id]}].id")
                    seen[item.id] = i
        return self

    def as_items(self) -> list[Item]:
        """The request's texts as items (the `texts` shorthand becomes items without ids)."""
        if self.items is not None:
            return list(self.items)
        return [Item(text=text) for text in self.texts or []]


class AspectOut(BaseModel):
    """One occurrence of an aspect in the text: [start, end) character span, polarity and confidence."""

    aspect: str
    start: int
    end: int
    polarity: str
    confidence: float
    probabilities: dict[str, float]

    @classmethod
    def of(cls, aspect: AspectPrediction) -> AspectOut:
        return cls(**aspect.to_dict(DIGITS))


class PredictionOut(BaseModel):
    """What the model says about one text (see `sentimentkit.types.Prediction`). `aspects` is null when aspects
    were not asked for and [] when none were found; `error` says why a text got no label (a blank text)."""

    id: str
    text: str
    label: str | None = None
    polarity: str | None = None
    score: float | None = Field(None, description="Expected value of the label scale, in [-1, 1].")
    value: float | None = Field(None, description="A regression model's output.")
    probabilities: dict[str, float] = Field(default_factory=dict)
    aspects: list[AspectOut] | None = None
    language: str | None = Field(None, description="Detected language of the text (ISO 639-1 code).")
    truncated: bool = False
    chunks: int | None = None
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None

    @classmethod
    def of(cls, prediction: Prediction, id: str, with_aspects: bool) -> PredictionOut:
        """The response row of `prediction`, under the id the client knows it by."""
        return cls(
            id=id,
            text=prediction.text,
            label=prediction.label,
            polarity=prediction.polarity,
            score=_round(prediction.score),
            value=_round(prediction.value),
            probabilities={k: round(float(v), DIGITS) for k, v in prediction.probabilities.items()},
            aspects=[AspectOut.of(a) for a in prediction.aspects] if with_aspects else None,
            language=prediction.language,
            truncated=prediction.truncated,
            chunks=prediction.chunks,
            error=prediction.error,
            warnings=list(prediction.warnings),
            metadata=dict(prediction.fields) or None,
        )


class AnalyzeResponse(BaseModel):
    """The models that answered and one prediction per input, in input order."""

    model: str
    aspect_model: str | None
    predictions: list[PredictionOut]


class ModelInfo(BaseModel):
    name: str
    task: str | None = None
    labels: list[str] = Field(default_factory=list)
    description: str | None = None


class Limits(BaseModel):
    max_texts: int = Field(description="Texts per request.")
    max_chars: int = Field(description="Characters per text.")
    max_body_bytes: int = Field(description="Bytes per request body (file uploads included).")
    max_batch: int = Field(description="Texts the server scores together.")
    max_queue: int = Field(description="Texts that may wait before requests get 429.")


class ModelsResponse(BaseModel):
    model: ModelInfo
    aspect_model: ModelInfo | None
    limits: Limits


class Status(BaseModel):
    status: str


class ErrorOut(BaseModel):
    detail: Any


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), DIGITS)
