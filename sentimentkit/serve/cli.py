"""The `sentimentkit serve` command: check the options and models, then run the service with uvicorn.

Only typer is imported at module level (the main CLI mounts this command at start-up); FastAPI, uvicorn and the
models load inside the command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

DEFAULT_ASPECT_MODEL = "absa-en"


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def serve(
    model: Annotated[str, typer.Option(help="Document model: a shipped name or a model folder.")] = "sentiment-en",
    aspects: Annotated[
        str | None,
        typer.Option(help=f"Aspect model (default: {DEFAULT_ASPECT_MODEL}, when shipped).", show_default=False),
    ] = None,
    no_aspects: Annotated[bool, typer.Option("--no-aspects", help="Serve without an aspect model.")] = False,
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 to accept other machines).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Processes (each loads its own models).")] = 1,
    store: Annotated[str | None, typer.Option(help="Also write every prediction to this SQL store URL.")] = None,
    api_keys_file: Annotated[
        Path | None, typer.Option(help="File of API keys, one per line (also: $SENTIMENTKIT_API_KEYS).")
    ] = None,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="Browser origin allowed to call the API (repeat for more).")
    ] = None,
    max_batch: Annotated[int, typer.Option(help="Texts scored together at most.")] = 64,
    batch_window_ms: Annotated[float, typer.Option(help="Wait this long for more requests to batch.")] = 5.0,
    max_queue: Annotated[int, typer.Option(help="Texts that may wait; beyond, requests get 429.")] = 2048,
    max_texts: Annotated[int, typer.Option(help="Texts per request.")] = 512,
    max_chars: Annotated[int, typer.Option(help="Characters per text.")] = 10_000,
    max_body_bytes: Annotated[int, typer.Option(help="Bytes per request body.")] = 8 * 1024 * 1024,
    request_timeout: Annotated[float, typer.Option(help="Seconds a request may wait for its answer (then 503).")] = 60,
    graceful_timeout: Annotated[
        int, typer.Option(help="On SIGTERM/Ctrl-C, seconds to finish in-flight requests before stopping.")
    ] = 30,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the REST service: POST /v1/analyze, /v1/aspects, /v1/analyze/file; GET /v1/models, /healthz, /readyz,
    /metrics, /docs; the web page at /."""
    from ..hub import ManifestError, ModelNotFoundError, shipped_models
    from .settings import ServeSettings, SettingsError, load_api_keys, parse_origins

    if no_aspects and aspects is not None:
        _fail("--aspects goes with an aspect model, not with --no-aspects")
    aspect_model = (
        None if no_aspects else aspects or (DEFAULT_ASPECT_MODEL if DEFAULT_ASPECT_MODEL in shipped_models() else None)
    )
    if workers < 1:
        _fail(f"--workers {workers}: expected 1 or more")
    try:
        settings = ServeSettings(
            model=model,
            aspect_model=aspect_model,
            batch_window_ms=batch_window_ms,
            max_batch=max_batch,
            max_queue=max_queue,
            max_texts=max_texts,
            max_chars=max_chars,
            max_body_bytes=max_body_bytes,
            api_keys=load_api_keys(api_keys_file),
            api_keys_file=str(api_keys_file) if api_keys_file is not None else None,
            cors_origins=parse_origins(cors_origin or []),
            store_url=store,
            request_timeout_s=request_timeout,
        )
        _check_models(settings.model, settings.aspect_model)
    except (SettingsError, ValueError, ManifestError, ModelNotFoundError) as err:
        _fail(str(err))
    if not settings.api_keys and host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: no API keys and bound to {host}: anyone who can reach it may use it", err=True)
    _run(settings, host, port, workers, graceful_timeout, log_level.lower())


def _check_models(model: str, aspect_model: str | None) -> None:
    """Fail before binding the port when a model name is wrong or of the wrong kind (a document model for
    --model, an aspect model with an extractor for --aspects)."""
    from ..hub import read_manifest, resolve
    from ..inference.pipeline import ASPECT_TASKS

    manifest = read_manifest(resolve(model).path)
    if manifest.task in ASPECT_TASKS:
        raise ValueError(f"--model {model!r} is an aspect model; give a document model and --aspects {model}")
    if aspect_model is not None:
        aspect = read_manifest(resolve(aspect_model).path)
        if aspect.task not in ASPECT_TASKS:
            raise ValueError(f"--aspects {aspect_model!r} is not an aspect model (such as {DEFAULT_ASPECT_MODEL})")


def _run(settings: Any, host: str, port: int, workers: int, graceful_timeout: int, log_level: str) -> None:
    """uvicorn with graceful shutdown. One worker: the app object, with SIGTERM marking it draining at once
    (readyz 503) before uvicorn stops accepting connections. Several: uvicorn's worker processes, each building
    the app from the settings in the environment (keys re-read from their source, never put in it)."""
    import uvicorn

    from .app import create_app
    from .server import DrainingServer
    from .settings import SETTINGS_ENV

    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "timeout_graceful_shutdown": graceful_timeout,
        "server_header": False,
    }
    if workers > 1:
        os.environ[SETTINGS_ENV] = settings.to_env()
        uvicorn.run("sentimentkit.serve.app:app_from_env", factory=True, workers=workers, **common)
        return
    app = create_app(settings)
    service = app.state.service
    server = DrainingServer(uvicorn.Config(app, **common), service)
    service.on_load_error = server.stop
    server.run()
    if service.load_error is not None:
        _fail(f"the models could not be loaded: {service.load_error}")
