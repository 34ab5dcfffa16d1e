"""`sentimentkit monitor CONFIG.yaml` (run) and `sentimentkit monitor check CONFIG.yaml` (validate only).

Only typer is imported at module level: the main CLI mounts this command and must start fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, NoReturn

import typer


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def monitor(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[check] CONFIG.yaml",
            help="The monitor's YAML configuration; `check CONFIG.yaml` validates it and exits.",
            show_default=False,
        ),
    ],
    log_level: Annotated[str, typer.Option(help="Logging level: debug, info, warning, error.")] = "info",
) -> None:
    """Watch a Redis stream, a JSON Lines file or stdin: score messages in micro-batches, store them, and raise
    alerts by rules (webhook, log, the store's alerts table)."""
    from .config import ConfigError, load_config

    if len(args) == 2 and args[0] == "check":
        path, check = Path(args[1]), True
    elif len(args) == 1 and args[0] != "check":
        path, check = Path(args[0]), False
    else:
        _fail("usage: sentimentkit monitor CONFIG.yaml | sentimentkit monitor check CONFIG.yaml")
    try:
        config = load_config(path)
    except ConfigError as err:
        _fail(str(err))
    if check:
        summary = {"config": str(path), "source": type(config.source).__name__, "rules": [r.name for r in config.rules]}
        typer.echo(json.dumps(summary | {"ok": True}))
        return
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        _fail(f"--log-level {log_level!r}: expected debug, info, warning or error")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    alerts = logging.getLogger("sentimentkit.monitor.alerts")  # the log sink: one JSON line per alert, as is
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    alerts.addHandler(handler)
    alerts.propagate = False
    try:
        from .runner import Monitor
    except ImportError as err:
        _fail(f'the monitor needs the stream and store extras: pip install "sentimentkit[stream,store]" ({err})')
    from ..hub import ManifestError, ModelNotFoundError
    from ..store import StoreError

    try:
        runner = Monitor(config)
    except (StoreError, ModelNotFoundError, ManifestError, ValueError, OSError) as err:
        _fail(f"{path}: {err}")
    raise typer.Exit(runner.run())
