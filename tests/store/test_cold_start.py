"""The `store` sub-app is mounted in the main CLI without slowing it: `analyze` imports no SQLAlchemy, Alembic or
matplotlib (they load inside the store commands)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO_ROOT

HEAVY = ("sqlalchemy", "alembic", "matplotlib", "psycopg")


def imported(*args: str) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sentimentkit.cli", *args],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")]
    return {name.split(".")[0] for name in lines}


def test_analyze_imports_no_database_or_plotting_library():
    modules = imported("analyze", "--no-aspects", "x")
    assert "onnxruntime" in modules  # the check sees what analyze imports (the compiled default model)
    assert not modules & {*HEAVY, "torch"}, sorted(modules & {*HEAVY, "torch"})


def test_store_help_is_light_too():
    assert not imported("store", "--help") & set(HEAVY)
