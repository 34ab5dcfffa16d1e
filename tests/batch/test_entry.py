"""The ways to start a batch job outside the main CLI: `python -m sentimentkit.batch`, and spark-submit running the
package's `__main__.py` (as on a cluster, here with --master local[2]); and aspects as an array of structs."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sentimentkit.batch

REPO = Path(__file__).resolve().parents[2]
ENTRY = Path(sentimentkit.batch.__file__).with_name("__main__.py")
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


def _env() -> dict[str, str]:
    paths = [str(REPO), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYSPARK_PYTHON": sys.executable}


def test_module_help_runs_without_starting_spark():
    result = subprocess.run(
        [sys.executable, "-m", "sentimentkit.batch", "--help"],
        capture_output=True,
        text=True,
        env={**_env(), "COLUMNS": "200", "NO_COLOR": "1"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--spark" in result.stdout and "--keep-columns" in result.stdout and "Parquet" in result.stdout


def test_spark_submit_runs_the_entry_on_local2(spark, tmp_path, tiny_model_dir):
    """`spark-submit --master local[2] .../sentimentkit/batch/__main__.py IN -o OUT`: the cluster command."""
    submit = shutil.which("spark-submit") or str(Path(sys.executable).with_name("spark-submit"))
    if not Path(submit).exists():
        pytest.skip("spark-submit is not on PATH (pyspark's pip package ships it)")
    source = tmp_path / "in.csv"
    with open(source, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "shop"), ("good value", "a"), ("", "b"), ("broke at once", "c")])
    out = tmp_path / "out.parquet"
    command = [submit, "--master", "local[2]", "--conf", "spark.ui.enabled=false", str(ENTRY), str(source)]
    command += ["-o", str(out), "--model", str(tiny_model_dir), "--keep", "shop"]
    result = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wrote 3 rows" in result.stdout + result.stderr  # spark-submit sends the driver's stderr to stdout
    rows = spark.read.parquet(str(out)).orderBy("id").collect()
    assert [(r["id"], r["shop"]) for r in rows] == [("2", "a"), ("3", "b"), ("4", "c")]
    assert rows[1]["error"] and rows[0]["label"] and rows[2]["label"]


def test_aspects_are_an_array_of_structs(spark, tmp_path, tiny_model_dir):
    """The shipped absa-en beside a tiny document model: each aspect a struct with its span, polarity, confidence."""
    from sentimentkit import available_models
    from sentimentkit.batch.job import BatchJob, run

    if "absa-en" not in available_models():
        pytest.skip("the shipped aspect model absa-en is not in this checkout")
    pytest.importorskip("spacy", reason="absa-en's parser needs spaCy (the absa extra)")
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "The battery life is great but the screen is dim."}\n{"text": ""}\n', encoding="utf-8")
    out = str(tmp_path / "out.parquet")
    job = BatchJob(str(source), out, model=str(tiny_model_dir), aspect_model="absa-en", partitions=1)  # one load
    assert run(spark, job) == 2
    out = spark.read.parquet(job.output)
    aspect_type = out.schema["aspects"].dataType.elementType
    assert aspect_type.fieldNames() == ["aspect", "start", "end", "polarity", "confidence", "probabilities"]
    rows = out.orderBy("id").collect()
    found = {a["aspect"]: a for a in rows[0]["aspects"]}
    assert {"battery life", "screen"} <= set(found)
    text = rows[0]["text"]
    for term, aspect in found.items():
        assert text[aspect["start"] : aspect["end"]] == term
        assert aspect["polarity"] in {"negative", "neutral", "positive"} and 0 < aspect["confidence"] <= 1
        assert set(aspect["probabilities"]) == {"negative", "neutral", "positive"}
    assert rows[1]["aspects"] == [] and rows[1]["error"]
