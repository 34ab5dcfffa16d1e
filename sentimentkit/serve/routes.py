"""The routes: /v1/analyze, /v1/aspects, /v1/analyze/file, /v1/models, and /healthz, /readyz, /metrics.

Each scoring route checks the per-request limits (413, naming the offending text), turns the request into
`TextExample`s (ids: the given id, else the position from 1; metadata travels as the example's fields) and awaits
the batcher. With a store, a text sent without an id is stored under `content_id(text)`, so texts from different
requests never overwrite each other; the response still numbers them by position.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, Security, UploadFile
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer

from ..types import Prediction, TextExample
from .engine import Engine, Options, content_id
from .files import UploadError, download_name, predictions_csv, read_upload
from .schemas import AnalyzeRequest, AnalyzeResponse, ErrorOut, Item, ModelsResponse, PredictionOut, Status
from .service import Service, service_of

# Declared so the OpenAPI document (and /docs' "Authorize") shows the two ways to send a key; the check itself is
# ApiKeyMiddleware, which runs before any body is read.
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key, when the server has keys.")
BEARER = HTTPBearer(auto_error=False, description="The same key as `Authorization: Bearer <key>`.")

ERRORS: dict[int | str, dict] = {
    401: {"model": ErrorOut, "description": "A key is required and was missing or wrong."},
    413: {"model": ErrorOut, "description": "Body, texts per request or characters per text over the limit."},
    422: {"description": "The request is invalid; `message` names each field."},
    429: {"model": ErrorOut, "description": "The queue is full; retry after `Retry-After` seconds."},
    503: {"model": ErrorOut, "description": "Loading, shutting down, busy or the store failed; retry later."},
}

router = APIRouter(
    prefix="/v1", tags=["analysis"], dependencies=[Security(API_KEY), Security(BEARER)], responses=ERRORS
)
system_router = APIRouter(tags=["system"])


def _check_limits(service: Service, items: list[Item], shorthand: bool) -> None:
    limits = service.settings
    if len(items) > limits.max_texts:
        field = "texts" if shorthand else "items"
        raise HTTPException(413, f"{field}: {len(items)} texts; the limit is {limits.max_texts} per request")
    for i, item in enumerate(items):
        if len(item.text) > limits.max_chars:
            where = f"texts[{i}]" if shorthand else f"items[{i}].text"
            raise HTTPException(413, f"{where}: {len(item.text)} characters; the limit is {limits.max_chars}")


def _examples(engine: Engine, items: list[Item]) -> list[TextExample]:
    stored = engine.store is not None
    return [
        TextExample(
            text=item.text,
            id=item.id or (content_id(item.text) if stored else str(i)),
            fields=tuple((item.metadata or {}).items()),
        )
        for i, item in enumerate(items, 1)
    ]


def _want_aspects(engine: Engine, body: AnalyzeRequest) -> bool:
    want = body.aspects if body.aspects is not None else engine.has_aspects or body.aspect_terms is not None
    if want and not engine.has_aspects:
        raise HTTPException(422, "aspects: this server has no aspect model (it was started with --no-aspects)")
    return want


async def _answer(
    service: Service, engine: Engine, body: AnalyzeRequest, options: Options, model: str, aspect_model: str | None
) -> AnalyzeResponse:
    items = body.as_items()
    _check_limits(service, items, body.texts is not None)
    predictions = await service.score(_examples(engine, items), options)
    with_aspects = options.task == "aspects" or options.aspects
    return AnalyzeResponse(
        model=model,
        aspect_model=aspect_model,
        predictions=[
            PredictionOut.of(p, item.id or str(i), with_aspects)
            for i, (item, p) in enumerate(zip(items, predictions, strict=True), 1)
        ],
    )


@router.post("/analyze", response_model=AnalyzeResponse, summary="Document sentiment (and aspects) of texts")
async def analyze(body: AnalyzeRequest, request: Request) -> AnalyzeResponse:
    """Label, polarity, score in [-1, 1] and probabilities of each text, and, with an aspect model, each aspect
    occurrence with its span, polarity and confidence. One prediction per input, in order."""
    service = service_of(request)
    engine = service.require_engine()
    aspects = _want_aspects(engine, body)
    terms = tuple(body.aspect_terms) if body.aspect_terms is not None else None
    options = Options("analyze", aspects, terms if aspects else None, body.long_texts)
    aspect_model = engine.aspect_model_name if aspects else None
    return await _answer(service, engine, body, options, engine.model_name, aspect_model)


@router.post("/aspects", response_model=AnalyzeResponse, summary="Aspects of texts (aspect model only)")
async def aspects(body: AnalyzeRequest, request: Request) -> AnalyzeResponse:
    """Each text's aspects (extracted, or the `aspect_terms` wherever they occur) with span, polarity and
    confidence; no document label. `long_texts` does not apply (aspects are found sentence by sentence)."""
    service = service_of(request)
    engine = service.require_engine()
    if body.aspects is False:
        raise HTTPException(422, "aspects: /v1/aspects always finds aspects; leave `aspects` out or true")
    if not engine.has_aspects:
        raise HTTPException(422, "this server has no aspect model (it was started with --no-aspects)")
    terms = tuple(body.aspect_terms) if body.aspect_terms is not None else None
    options = Options("aspects", True, terms, "truncate")
    name = engine.aspect_model_name or engine.model_name
    return await _answer(service, engine, body, options, name, name)


@router.post(
    "/analyze/file",
    response_model=AnalyzeResponse,
    summary="Analyze an uploaded .csv, .jsonl or .txt file",
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with ?format=csv."}},
)
async def analyze_file(
    request: Request,
    file: Annotated[UploadFile, File(description=".csv, .jsonl or .txt, optionally .gz/.xz/.bz2.")],
    column: Annotated[str, Form(description="Column (CSV) or field (JSONL) holding the text.")] = "text",
    id_column: Annotated[str | None, Form(description="Column holding an id; default: record numbers.")] = None,
    keep: Annotated[list[str] | None, Form(description="Other columns to return as metadata.")] = None,
    aspects: Annotated[bool | None, Form(description="Also find aspects; default: when the server can.")] = None,
    long_texts: Annotated[Literal["truncate", "chunks"], Form()] = "truncate",
    output: Annotated[Literal["json", "csv"], Query(alias="format", description="json, or csv to download.")] = "json",
) -> Response:
    """One prediction per record of the file, with the ids `sentimentkit analyze -f` gives (the id column, else
    the line or record number); unreadable records get a row whose `error` says why."""
    service = service_of(request)
    engine = service.require_engine()
    keep = [k for k in keep or [] if k]
    want = aspects if aspects is not None else engine.has_aspects
    if want and not engine.has_aspects:
        raise HTTPException(422, "aspects: this server has no aspect model (it was started with --no-aspects)")
    s = service.settings
    try:
        records = await asyncio.to_thread(
            read_upload, file.file, file.filename, column or "text", id_column or None, keep, s.max_texts, s.max_chars
        )
    except UploadError as err:
        raise HTTPException(err.status, str(err)) from None
    if not records:
        raise HTTPException(422, f"file: {file.filename} holds no records")
    readable = [r for r in records if r.error is None]
    stored = engine.store is not None
    examples = [replace(r.example(), id=r.id if id_column or not stored else content_id(r.text)) for r in readable]
    options = Options("analyze", want, None, long_texts)
    scored = iter(await service.score(examples, options)) if examples else iter(())
    predictions: list[Prediction] = [replace(next(scored), id=r.id) if r.error is None else r.failed() for r in records]
    if output == "csv":
        data = await asyncio.to_thread(predictions_csv, predictions, engine.labels, keep, want)
        disposition = f'attachment; filename="{download_name(file.filename)}"'
        return Response(data, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})
    body = AnalyzeResponse(
        model=engine.model_name,
        aspect_model=engine.aspect_model_name if want else None,
        predictions=[PredictionOut.of(p, p.id or "", want) for p in predictions],
    )
    return JSONResponse(body.model_dump(mode="json"))


@router.get("/models", response_model=ModelsResponse, summary="The loaded models and the request limits")
async def models(request: Request) -> ModelsResponse:
    service = service_of(request)
    engine = service.require_engine()
    s = service.settings
    aspect = engine.describe(engine.aspect_pipeline, engine.aspect_model_name) if engine.has_aspects else None
    return ModelsResponse.model_validate(
        {
            "model": engine.describe(engine.document, engine.model_name),
            "aspect_model": aspect,
            "limits": {
                "max_texts": s.max_texts,
                "max_chars": s.max_chars,
                "max_body_bytes": s.max_body_bytes,
                "max_batch": s.max_batch,
                "max_queue": s.max_queue,
            },
        }
    )


@system_router.get("/healthz", response_model=Status, summary="Liveness: the process answers")
async def healthz(request: Request) -> JSONResponse:
    """200 while the process is alive; 503 when its models failed to load (restart it)."""
    if service_of(request).load_error is not None:
        return JSONResponse({"status": "failed"}, status_code=503)
    return JSONResponse({"status": "ok"})


@system_router.get("/readyz", response_model=Status, summary="Readiness: models loaded and not draining")
async def readyz(request: Request) -> JSONResponse:
    """200 when the models are loaded and the server takes requests; 503 (with Retry-After) while loading,
    after a failed load and while draining for shutdown."""
    service = service_of(request)
    if service.ready:
        return JSONResponse({"status": "ready"})
    status = "draining" if service.draining else "failed" if service.load_error else "loading"
    headers = {"Retry-After": str(service.settings.retry_after_s)}
    return JSONResponse({"status": status}, status_code=503, headers=headers)


@system_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 401: ERRORS[401]},
)
async def metrics(request: Request) -> Response:
    service = service_of(request)
    return Response(service.metrics.render(), media_type=service.metrics.content_type)
