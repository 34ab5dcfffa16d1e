"""Store fixtures: every store test runs on SQLite and on PostgreSQL, each on a database of its own.

PostgreSQL comes from $SENTIMENTKIT_TEST_POSTGRES, a SQLAlchemy URL of a server where the user may create
databases (CI: postgresql+psycopg://postgres@127.0.0.1:55432/postgres). Each test gets a new database with a
random name, dropped afterwards; without the variable the PostgreSQL case is skipped.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from sentimentkit.hub import Manifest
from sentimentkit.inference.pipeline import with_language
from sentimentkit.labels import POLARITY3
from sentimentkit.types import AspectPrediction, Prediction, TextExample

POSTGRES_ENV = "SENTIMENTKIT_TEST_POSTGRES"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(
            f"PostgreSQL case: set {POSTGRES_ENV} to a server URL, e.g. postgresql+psycopg://postgres@127.0.0.1:55432/postgres"
        )
    yield from _postgres_database(server)


def _postgres_database(server: str) -> Iterator[str]:
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from sentimentkit.store import database_url

    url = database_url(server)
    name = f"sentimentkit_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def store(db_url):
    from sentimentkit.store import Store

    with Store(db_url) as opened:
        yield opened


# --- a small fake pipeline --------------------------------------------------------------------------------------

TERMS = ("screen", "battery", "camera", "speaker")
NEGATIVE = ("bad", "broken", "freezes", "dim", "awful", "unresponsive")
POSITIVE = ("great", "good", "excellent", "bright", "loud")


class FakePipeline:
    """Scores by keywords, like a model would: each known aspect term gets the polarity of the words of its
    sentence; the document the mean. `fail_on_call=n` raises on the n-th call (a crash mid-file). `language="en"`
    adds each text's detected language (and the warning on another language) as a loaded Pipeline does."""

    def __init__(self, name: str = "fake-model", fail_on_call: int | None = None, language: str | None = None) -> None:
        self.manifest = Manifest(path=Path(name), kind="model", task="text-classification.v1", labels=POLARITY3)
        self.aspect_pipeline = None
        self.fail_on_call = fail_on_call
        self.language = language
        self.calls = 0
        self.seen: list[str] = []

    def __call__(self, inputs: Sequence[TextExample | str], **options) -> list[Prediction]:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise RuntimeError(f"the model crashed on call {self.calls}")
        out = []
        for x in inputs:
            x = TextExample(text=x) if isinstance(x, str) else x
            self.seen.append(x.text)
            out.append(fake_prediction(x.text, x.id, x.fields))
        return with_language(out, self.language) if self.language is not None else out


def _polarity(sentence: str) -> tuple[str, dict[str, float]]:
    words = set(re.findall(r"\w+", sentence.lower()))
    if words & set(NEGATIVE):
        return "negative", {"negative": 0.9, "neutral": 0.05, "positive": 0.05}
    if words & set(POSITIVE):
        return "positive", {"negative": 0.05, "neutral": 0.05, "positive": 0.9}
    return "neutral", {"negative": 0.1, "neutral": 0.8, "positive": 0.1}


def fake_prediction(text: str, id: str | None = None, fields: tuple = ()) -> Prediction:
    if not text.strip():
        return Prediction(text=text, id=id, error="blank input: nothing to score", fields=fields)
    aspects = []
    for sentence in re.finditer(r"[^.!?]+[.!?]?", text):
        polarity, probabilities = _polarity(sentence.group())
        for term in TERMS:
            for match in re.finditer(term, sentence.group(), flags=re.IGNORECASE):
                start = sentence.start() + match.start()
                aspects.append(
                    AspectPrediction(
                        match.group(), start, start + len(term), polarity, max(probabilities.values()), probabilities
                    )
                )
    polarity, probabilities = _polarity(text)
    score = probabilities["positive"] - probabilities["negative"]
    return Prediction(text, polarity, polarity, score, probabilities, tuple(aspects), id=id, fields=fields)
