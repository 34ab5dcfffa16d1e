"""A local[2] Spark session shared by the batch tests (one JVM start), or a skip that says what is missing."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = str(Path(__file__).resolve().parents[2])


def _missing() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "batch tests need Java 17 (apt-get install default-jre-headless)"
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        return 'batch tests need the spark extra: pip install "sentimentkit[spark]"'
    return None


@pytest.fixture(scope="session")
def spark():
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)
    # the Python workers must be this interpreter (the venv with torch), with this checkout importable
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    os.environ["PYTHONPATH"] = os.pathsep.join([REPO, *(p for p in paths if p and p != REPO)])
    from sentimentkit.batch.job import spark_session

    conf = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.driver.memory": "1g"}
    session = spark_session("local[2]", conf)
    yield session
    session.stop()
