"""`sentimentkit batch` on local[2]: the CLI's columns and values, every input row once, bad rows as error rows,
CSV / JSON Lines / Parquet inputs, kept columns, aspects as structs, and the checks made before any scoring."""

from __future__ import annotations

import csv
import json
import math
import sys

import pytest
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.io import InputError, OutputError

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")

REVIEWS = [
    ("r1", "A wonderful film, I loved every minute.", "dvd"),
    ("r2", "Dull, slow and far too long.", "cinema"),
    ("r3", "", "dvd"),
    ("r4", "It was fine I guess.", "stream"),
    ("r5", "   ", "cinema"),
    ("r6", "The acting was superb but the plot made no sense at all.", "dvd"),
]


def _job(tmp_path, input, model, **options):
    from sentimentkit.batch.job import BatchJob

    return BatchJob(input=str(input), output=str(tmp_path / "out.parquet"), model=str(model), **options)


def _rows(path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(str(path)).to_pylist()


def _columns(path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(str(path)).column_names


def _write_csv(path, rows, header=("id", "text", "product")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _cell(value) -> str:
    """A Parquet value as the CLI's CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _same(cli: str, batch: str) -> bool:
    try:
        return math.isclose(float(cli), float(batch), abs_tol=2e-4)  # another batch composition, the same model
    except ValueError:
        return cli == batch


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_same_columns_and_values_as_the_cli(spark, tmp_path, tiny_model_dir, kind):
    from sentimentkit.batch.job import run

    if kind == "csv":
        source = _write_csv(tmp_path / "in.csv", REVIEWS)
    else:
        source = tmp_path / "in.jsonl"
        lines = [json.dumps({"id": i, "text": t, "product": p}) for i, t, p in REVIEWS]
        # a blank line (no record), a number as text, invalid JSON, a missing text: rows with `error`, as in the CLI
        lines[2:2] = ["", json.dumps({"id": "n", "text": 7, "product": "x"}), "{not json", '{"product": "y"}']
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = tmp_path / "cli.csv"
    command = ["analyze", "--file", str(source), "-o", str(expected), "--model", str(tiny_model_dir)]
    result = runner.invoke(app, [*command, "--no-aspects", "--keep", "product"])
    assert result.exit_code == 0, result.output
    written = run(spark, _job(tmp_path, source, tiny_model_dir, keep=("product",)))

    with open(expected, newline="", encoding="utf-8") as f:
        cli = list(csv.DictReader(f))
    out = tmp_path / "out.parquet"
    assert _columns(out) == list(cli[0])  # the same columns in the same order
    rows = _rows(out)
    assert written == len(rows) == len(cli)
    assert [r["id"] for r in rows] == [r["id"] for r in cli]  # ids (line numbers) and order
    for theirs, ours in zip(cli, rows, strict=True):
        different = {c: (theirs[c], _cell(ours[c])) for c in theirs if not _same(theirs[c], _cell(ours[c]))}
        if theirs["error"]:  # the same rows fail; the messages may name the place differently
            assert ours["error"] and ours["label"] is None
            different = {c: v for c, v in different.items() if c != "error"}
        assert not different, f"row {theirs['id']}: {different}"
    errors = [r["id"] for r in rows if r["error"]]
    assert errors == (["4", "6"] if kind == "csv" else ["4", "5", "6", "7", "9"])


def test_every_row_exactly_once_in_input_order(spark, tmp_path, tiny_model_dir):
    from sentimentkit.batch.job import run

    texts = [(f"id{i}", f"review number {i} " + "good " * (i % 7), f"p{i % 3}") for i in range(700)]
    source = _write_csv(tmp_path / "many.csv", texts)
    written = run(spark, _job(tmp_path, source, tiny_model_dir, id_column="id", partitions=5, batch_size=16))
    rows = _rows(tmp_path / "out.parquet")
    assert written == len(rows) == 700
    assert [r["id"] for r in rows] == [t[0] for t in texts]
    assert [r["text"] for r in rows] == [t[1] for t in texts]
    assert all(r["error"] is None and r["label"] for r in rows)


def test_default_ids_are_stable_across_reruns(spark, tmp_path, tiny_model_dir):
    from sentimentkit.batch.job import run

    source = _write_csv(tmp_path / "in.csv", [(str(i), f"text {i}", "p") for i in range(50)])
    first = run(spark, _job(tmp_path, source, tiny_model_dir, partitions=3))
    ids = [(r["id"], r["text"]) for r in _rows(tmp_path / "out.parquet")]
    run(spark, _job(tmp_path, source, tiny_model_dir, partitions=4, overwrite=True))
    assert first == 50
    assert [(r["id"], r["text"]) for r in _rows(tmp_path / "out.parquet")] == ids
    assert ids[0] == ("2", "text 0")  # the CLI's line number: the header is line 1


def test_quoted_newlines_and_quotes_survive_in_csv(spark, tmp_path, tiny_model_dir):
    from sentimentkit.batch.job import run

    rows = [("a", 'Line one.\nLine two, with "quotes".', "x"), ("b", "plain", "y")]
    source = _write_csv(tmp_path / "in.csv", rows)
    run(spark, _job(tmp_path, source, tiny_model_dir, id_column="id", keep=("product",)))
    out = _rows(tmp_path / "out.parquet")
    assert [(r["id"], r["text"], r["product"]) for r in out] == rows


def test_parquet_input_keeps_column_types(spark, tmp_path, tiny_model_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sentimentkit.batch.job import run

    table = pa.table(
        {
            "review_id": pa.array([10, 11, 12], pa.int64()),
            "body": ["great value", None, "awful support"],
            "stars": pa.array([5.0, None, 1.0]),
        }
    )
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    job = _job(tmp_path, source, tiny_model_dir, column="body", id_column="review_id", keep=("stars",))
    assert run(spark, job) == 3
    out = tmp_path / "out.parquet"
    rows = _rows(out)
    assert [r["id"] for r in rows] == ["10", "11", "12"]
    assert [r["stars"] for r in rows] == [5.0, None, 1.0]
    assert "'body' is null" in rows[1]["error"] and rows[1]["label"] is None
    assert rows[0]["label"] and rows[2]["label"]
    schema = pq.read_schema(next(out.glob("*.parquet")))
    assert str(schema.field("stars").type) == "double" and str(schema.field("truncated").type) == "bool"


def test_a_text_column_that_is_not_text_gives_error_rows(spark, tmp_path, tiny_model_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sentimentkit.batch.job import run

    source = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), source)
    assert run(spark, _job(tmp_path, source, tiny_model_dir)) == 2
    rows = _rows(tmp_path / "out.parquet")
    assert all("'text' is bigint; expected a string" in r["error"] for r in rows)


def test_a_missing_column_fails_before_scoring_and_names_the_columns(spark, tmp_path, tiny_model_dir):
    from sentimentkit.batch.job import run

    source = _write_csv(tmp_path / "in.csv", [("1", "x", "y")], header=("id", "review", "product"))
    with pytest.raises(InputError) as err:
        run(spark, _job(tmp_path, source, tiny_model_dir))
    message = str(err.value)
    assert str(source) in message and "'text'" in message and "review" in message and "product" in message
    assert not (tmp_path / "out.parquet").exists()

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="no field 'text'.*body"):
        run(spark, _job(tmp_path, jsonl, tiny_model_dir))


def test_an_existing_output_is_kept_unless_overwrite(spark, tmp_path, tiny_model_dir):
    from sentimentkit.batch.job import run

    source = _write_csv(tmp_path / "in.csv", [("1", "fine", "p")])
    (tmp_path / "out.parquet").mkdir()
    (tmp_path / "out.parquet" / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="exists; remove it or give --overwrite"):
        run(spark, _job(tmp_path, source, tiny_model_dir))
    assert (tmp_path / "out.parquet" / "keep.txt").exists()
    assert run(spark, _job(tmp_path, source, tiny_model_dir, overwrite=True)) == 1
    with pytest.raises(OutputError, match="ending in .parquet"):
        run(spark, _job(tmp_path, source, tiny_model_dir).__class__(input=str(source), output=str(tmp_path / "o")))


def test_unknown_format_and_missing_input_are_user_errors(spark, tmp_path, tiny_model_dir):
    from sentimentkit.batch.job import input_format, run

    assert input_format("reviews.csv.gz") == "csv"
    assert input_format("part-*.jsonl") == "jsonl"
    with pytest.raises(InputError, match="give --format"):
        input_format(str(tmp_path / "reviews.data"))
    with pytest.raises(InputError, match="no-such.csv"):
        run(spark, _job(tmp_path, tmp_path / "no-such.csv", tiny_model_dir))


def test_the_batch_command_in_process(spark, tmp_path, tiny_model_dir):
    """`sentimentkit batch` through the main CLI: a folder of part files, --keep-columns a,b, the shared session
    left running."""
    parts = tmp_path / "reviews"
    parts.mkdir()
    header = ("id", "text", "product", "text_len")
    _write_csv(parts / "part-0.csv", [(*r, len(r[1])) for r in REVIEWS[:3]], header=header)
    _write_csv(parts / "part-1.csv", [(*r, len(r[1])) for r in REVIEWS[3:]], header=header)
    out = tmp_path / "scored.parquet"
    args = ["batch", str(parts), "-o", str(out), "--model", str(tiny_model_dir), "--id-column", "id"]
    taken = runner.invoke(app, [*args, "--keep-columns", "product,id"])
    assert taken.exit_code == 2 and "--keep 'id': the output has such a column already" in taken.output
    result = runner.invoke(app, [*args, "--keep-columns", "product,text_len", "--partitions", "2"])
    assert result.exit_code == 0, result.output
    assert "wrote 6 rows" in result.output
    rows = _rows(out)
    assert sorted(r["id"] for r in rows) == sorted(r[0] for r in REVIEWS)
    assert {r["id"]: (r["product"], r["text_len"]) for r in rows} == {r[0]: (r[2], str(len(r[1]))) for r in REVIEWS}
    assert spark.range(1).count() == 1  # still running

    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output


def test_the_batch_command_without_pyspark_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    result = runner.invoke(app, ["batch", "in.csv", "-o", str(tmp_path / "out.parquet")])
    assert result.exit_code == 2
    assert 'pip install "sentimentkit[spark]"' in result.output


def _probe(frames):
    """In a Spark worker: its pid, torch threads and the models it holds."""
    import os

    import pandas as pd
    import torch

    from sentimentkit.batch import score

    for _ in frames:
        yield pd.DataFrame(
            {"pid": [os.getpid()], "threads": [torch.get_num_threads()], "models": [len(score._PIPELINES)]}
        )


def test_workers_keep_their_model_and_run_one_thread(spark, tmp_path, tiny_model_dir):
    from sentimentkit.batch.job import run

    source = _write_csv(tmp_path / "in.csv", [(str(i), f"text {i}", "p") for i in range(40)])
    run(spark, _job(tmp_path, source, tiny_model_dir, partitions=4))
    probes = spark.range(8, numPartitions=4).mapInPandas(_probe, "pid long, threads int, models int").collect()
    loaded = [p for p in probes if p["models"]]
    assert loaded, "no worker kept its model after the job: is spark.python.worker.reuse on?"
    assert {p["threads"] for p in loaded} == {1}
