"""A product's aspect report from the store: each aspect's mentions by polarity and mean sentiment score, the
documents' mean score and detected languages, and the most negative aspects with example sentences; as data
(`Report`), and as a PNG bar chart (matplotlib's Agg canvas, no display needed).

Aspect terms are grouped case-insensitively ("Screen" and "screen" are one aspect).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..data.align import sentence_spans
from . import StoreError
from .core import Store
from .schema import document_predictions, documents, models, reviews

POLARITY_ORDER = ("negative", "neutral", "positive")
COLOURS = {"negative": "#c0392b", "neutral": "#95a5a6", "positive": "#27ae60"}


@dataclass(frozen=True)
class AspectSummary:
    """One aspect (lower-cased term): mentions, their count by polarity, and the mean sentiment score in [-1, 1]."""

    term: str
    mentions: int
    polarity: dict[str, int]
    mean_score: float


@dataclass(frozen=True)
class Example:
    """A sentence around one occurrence of an aspect, from document `review_id`, with that occurrence's score."""

    review_id: str
    sentence: str
    score: float


@dataclass(frozen=True)
class NegativeAspect:
    term: str
    mentions: int
    mean_score: float
    examples: list[Example] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """What `sentimentkit store report --product X` shows. mean_document_score: the documents' mean score (None
    when no document model gave one); aspects: by mentions, most first; most_negative: lowest mean score first;
    languages: documents by detected language, most first (documents without one, such as blank texts or rows
    stored before the store kept languages, are not counted)."""

    product: str
    documents: int
    scored_documents: int
    mean_document_score: float | None
    mentions: int
    mean_aspect_score: float | None
    aspects: list[AspectSummary]
    most_negative: list[NegativeAspect]
    languages: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_report(store: Store, product: str, *, model: str | None = None, top: int = 5, examples: int = 2) -> Report:
    """The report of `product` (documents.product_id). `model` keeps the predictions of one document model (by
    name; default: all); `top` negative aspects with up to `examples` sentences each."""
    view = reviews.c
    where = view.product_id == product
    if model is not None:
        where = where & (view.model == model)
    term = sa.func.lower(view.aspect_term).label("term")
    with store.reading() as conn:
        documents_count, scored, mean_document = _documents(conn, product, model)
        languages = _languages(conn, product, model)
        by_polarity = conn.execute(
            sa.select(term, view.polarity, sa.func.count()).where(where).group_by(term, view.polarity)
        ).all()
        totals = conn.execute(
            sa.select(term, sa.func.count(), sa.func.avg(view.sentiment_score)).where(where).group_by(term)
        ).all()
        counts: dict[str, dict[str, int]] = {}
        for name, polarity, n in by_polarity:
            counts.setdefault(name, dict.fromkeys(POLARITY_ORDER, 0))[polarity] = int(n)
        aspects = [AspectSummary(name, int(n), counts[name], float(mean)) for name, n, mean in totals]
        aspects.sort(key=lambda a: (-a.mentions, a.mean_score, a.term))
        negative = sorted((a for a in aspects if a.mean_score < 0), key=lambda a: (a.mean_score, -a.mentions))[:top]
        most_negative = [
            NegativeAspect(a.term, a.mentions, a.mean_score, _examples(conn, where, term, a.term, examples))
            for a in negative
        ]
    mentions = sum(a.mentions for a in aspects)
    mean_aspect = sum(a.mean_score * a.mentions for a in aspects) / mentions if mentions else None
    return Report(
        product, documents_count, scored, mean_document, mentions, mean_aspect, aspects, most_negative, languages
    )


# documents with their predictions and the models that made them
_PREDICTED = documents.join(document_predictions, document_predictions.c.document_id == documents.c.id).join(
    models, models.c.id == document_predictions.c.model_id
)


def _predicted(product: str, model: str | None) -> Any:
    """The rows of `_PREDICTED` of one product, by one document model (by name) or by all."""
    where = documents.c.product_id == product
    return where if model is None else where & (models.c.name == model)


def _documents(conn: sa.Connection, product: str, model: str | None) -> tuple[int, int, float | None]:
    """(documents of the product, those with a document score, their mean score)."""
    total = conn.execute(sa.select(sa.func.count()).where(documents.c.product_id == product)).scalar_one()
    where = _predicted(product, model) & document_predictions.c.score.is_not(None)
    scored, mean = conn.execute(
        sa.select(sa.func.count(sa.distinct(documents.c.id)), sa.func.avg(document_predictions.c.score))
        .select_from(_PREDICTED)
        .where(where)
    ).one()
    return int(total), int(scored), None if mean is None else float(mean)


def _languages(conn: sa.Connection, product: str, model: str | None) -> dict[str, int]:
    """The product's documents by their predictions' detected language, most first (ties by code)."""
    language = document_predictions.c.language
    rows = conn.execute(
        sa.select(language, sa.func.count(sa.distinct(documents.c.id)))
        .select_from(_PREDICTED)
        .where(_predicted(product, model) & language.is_not(None))
        .group_by(language)
    ).all()
    return {code: int(n) for code, n in sorted(rows, key=lambda row: (-row[1], row[0]))}


def _examples(conn: sa.Connection, where: Any, term: Any, name: str, limit: int) -> list[Example]:
    """The sentences of the `limit` most negative occurrences of an aspect, one per document."""
    view = reviews.c
    rows = conn.execute(
        sa.select(view.review_id, view.text, view.start_char, view.end_char, view.sentiment_score)
        .where(where & (term == name))
        .order_by(view.sentiment_score, view.review_id)
        .limit(limit * 4)  # some may be further occurrences in the same document
    ).all()
    out: list[Example] = []
    seen: set[str] = set()
    for review_id, text, start, end, score in rows:
        if review_id in seen:
            continue
        seen.add(review_id)
        out.append(Example(review_id, sentence_around(text, start, end), float(score)))
        if len(out) == limit:
            break
    return out


def sentence_around(text: str, start: int, end: int, width: int = 240) -> str:
    """The sentence of `text` holding the span [start, end) (sentimentkit.data.align.sentence_spans), cut to about
    `width` characters around the span when the sentence is longer."""
    a, b = next(((a, b) for a, b in sentence_spans(text) if a <= start < b), (0, len(text)))
    if b - a > width:
        half = max(0, (width - (end - start)) // 2)
        a, b = max(a, start - half), min(b, end + half)
        return ("…" if a > 0 else "") + text[a:b].strip() + ("…" if b < len(text) else "")
    return text[a:b]


def check_chart_path(path: str | Path) -> Path:
    """Check the chart's path before any work: a .png name in an existing folder."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise StoreError(f"{path}: the chart is a PNG; give a file name ending in .png")
    if not path.parent.is_dir():
        raise StoreError(f"{path}: the folder {path.parent} does not exist")
    return path


def write_chart(report: Report, path: str | Path, limit: int = 15) -> Path:
    """A horizontal bar chart of the `limit` most mentioned aspects: mentions stacked by polarity, mean score at
    the end of each bar. Uses matplotlib's Agg canvas directly (no pyplot, no display, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    path = check_chart_path(path)
    shown = list(reversed(report.aspects[:limit]))  # most mentioned at the top
    figure = Figure(figsize=(8, 1.2 + 0.4 * max(1, len(shown))), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    terms = [a.term for a in shown]
    left = [0] * len(shown)
    for polarity in POLARITY_ORDER:
        counts = [a.polarity.get(polarity, 0) for a in shown]
        axes.barh(terms, counts, left=left, color=COLOURS[polarity], label=polarity)
        left = [x + c for x, c in zip(left, counts, strict=True)]
    for y, aspect in enumerate(shown):
        axes.text(aspect.mentions, y, f"  {aspect.mean_score:+.2f}", va="center", fontsize=8)
    axes.set_xlabel("mentions (mean sentiment score at the end of each bar)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"{report.product}: aspects by polarity ({report.documents} documents)")
    if shown:
        figure.legend(loc="outside lower center", ncols=len(POLARITY_ORDER), fontsize=8, frameon=False)
        axes.set_xlim(0, max(left) * 1.15)
    else:
        axes.text(0.5, 0.5, "no aspects", ha="center", va="center", transform=axes.transAxes)
    figure.savefig(path, format="png")
    return path
