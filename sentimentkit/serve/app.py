"""The FastAPI application: `create_app(settings)` puts together the routes, the middleware (body limit, API
keys, metrics, CORS), the error format, the docs, the web page and the life cycle.

The models load once, in the background, at start-up (so /healthz answers at once and /readyz says 503 until they
are loaded); tests pass a small fake `pipeline` instead. Every limit and every bad input is a 4xx with a message
that names the field, never a 5xx. Graceful shutdown: `Service.request_drain()` (on SIGTERM) makes /readyz and new
requests 503, and the lifespan's end waits for every accepted request to be answered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from .middleware import ApiKeyMiddleware, BodyLimitMiddleware, MetricsMiddleware
from .routes import router, system_router
from .service import Service
from .settings import ServeSettings

STATIC = Path(__file__).resolve().parent / "static"


def create_app(
    settings: ServeSettings | None = None,
    pipeline: Any | None = None,
    *,
    loader: Callable[[ServeSettings], Any] | None = None,
    store: Any | None = None,
) -> FastAPI:
    """The service as an ASGI app. `pipeline`: an already loaded pipeline (tests pass a fake one), else
    `loader(settings)` (default: `Pipeline.load(settings.model, aspects=settings.aspect_model)`) runs at
    start-up in a thread. `store`: an object with `write(predictions, model=, source=)` and `close()`, else
    `Store(settings.store_url)` when a store URL is set."""
    settings = settings if settings is not None else ServeSettings()
    service = Service(settings, pipeline, loader, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="sentimentkit",
        version=_version(),
        summary="Document and aspect-based sentiment analysis.",
        lifespan=lifespan,
        docs_url=None,  # served below, with Swagger UI's files from the swagger-ui-bundle package (no CDN: offline)
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service
    app.include_router(router)
    app.include_router(system_router)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="sentimentkit API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        index = STATIC / "index.html"
        if not index.is_file():
            raise HTTPException(404, "the web page is not installed (sentimentkit/serve/static/index.html)")
        return FileResponse(index)

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    app.mount("/docs-assets", StaticFiles(directory=_swagger_assets(), check_dir=False), name="docs-assets")

    # Outermost last: CORS answers preflights and decorates every response (401 and 413 included); metrics
    # count everything; then the key check and the body limit, before any route reads the body.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)
    paths = [route.path for route in [*router.routes, *system_router.routes]] + ["/", "/docs", "/openapi.json"]
    app.add_middleware(MetricsMiddleware, metrics=service.metrics, paths=paths)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization"],
            expose_headers=["Retry-After"],
        )
    return app


def app_from_env() -> FastAPI:
    """The app of a `uvicorn --workers N` process: settings from the environment `sentimentkit serve` set."""
    return create_app(ServeSettings.from_env())


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with FastAPI's error list (location, message, type; never the input, which may be huge or not even
    text) and one readable `message` naming each field: "body.items[0].text: Input should be a valid string"."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    lines = []
    for error in exc.errors():
        loc = [str(part) if not isinstance(part, int) else part for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            where = loc[1] if len(loc) > 1 else "?"
            reason = (error.get("ctx") or {}).get("error", "")
            message = f"invalid JSON at character {where}: {reason}".rstrip(": ")
            loc = ["body"]
        errors.append({"loc": loc, "msg": message, "type": error.get("type", "")})
        lines.append(f"{_where(loc)}: {message}")
    return JSONResponse(status_code=422, content=jsonable_encoder({"detail": errors, "message": "; ".join(lines)}))


def _where(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sentimentkit")
    except PackageNotFoundError:
        return "0"


def _swagger_assets() -> str:
    """The folder of Swagger UI's JavaScript and CSS inside the swagger-ui-bundle package."""
    from swagger_ui_bundle import swagger_ui_path

    return str(swagger_ui_path)
