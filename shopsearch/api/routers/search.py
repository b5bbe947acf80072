"""GET and POST /search (JSON, or multipart with photos or a clip), the shopper's page,
autocomplete and health."""

from __future__ import annotations

import asyncio
import html
import logging
import time
from pathlib import Path
from string import Template
from typing import Callable

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Query as QueryParam
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from shopsearch.api.deps import Gates, engine
from shopsearch.api.models import ApiResult, SearchRequest, error_line
from shopsearch.api.routers.media import transcribe_clip
from shopsearch.api.uploads import MAX_IMAGES, check_image, read_form, read_upload
from shopsearch.events.store import SearchLog
from shopsearch.ranking.experiments import running
from shopsearch.schema import Filters
from shopsearch.settings import Settings

HERE = Path(__file__).resolve().parents[1]
POST_BODY = {"requestBody": {"content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/SearchRequest"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "query": {"type": "string", "description": "a SearchRequest as JSON"},
        "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "audio": {"type": "string", "format": "binary"},
        "video": {"type": "string", "format": "binary"}}}}}}}


log = logging.getLogger(__name__)


def modality_of(req: SearchRequest, images: list | None, clip_kind: str | None) -> str:
    """What the shopper searched with, for the search log."""
    if clip_kind == "video":
        return "video"
    if clip_kind == "audio":
        return "voice"
    if images:
        return "photo"
    return "text" if (req.text or "").strip() else "browse"


def run(eng, gates: Gates, req: SearchRequest, images: list | None = None, spoken: str | None = None,
        modality: str | None = None) -> ApiResult:
    """Search, then log it (query, modality, result count, latency, session, A/B arm).
    A session in a running A/B test is ranked by its arm."""
    t0 = time.perf_counter()
    q = req.to_query(images, spoken)
    if not q.text and not q.images and q.filters.is_empty():
        raise HTTPException(400, "give a query: text, an image, audio, video or filters")
    exp = running(eng.index) if q.session else None
    arm = exp.assign(q.session) if exp is not None else None
    if arm is not None:
        q = arm.apply(q, eng.settings)
    with gates.search:
        res = eng.search(q)
    out = ApiResult.of(res, spoken)
    if eng.events is not None and req.page == 1 and eng.settings.search_log:  # a search, not its next page
        try:
            eng.events.log_search(SearchLog(query_id=out.query_id, query=q.text or "",
                                            modality=modality or modality_of(req, images, None),
                                            total=0 if res.no_match else res.total,
                                            latency_ms=(time.perf_counter() - t0) * 1000, session_id=q.session,
                                            experiment=exp.name if exp else None, arm=arm.name if arm else None))
        except Exception:  # the shopper gets the answer even if the log is unwritable
            log.exception("could not log a search")
    return out


def router(s: Settings, gates: Gates, search_key: Callable) -> APIRouter:
    r = APIRouter()
    template = Template((HERE / "templates" / "index.html").read_text(encoding="utf-8"))

    @r.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(q: str = "", eng=Depends(engine)) -> str:
        """The shopper's page; the query is rendered into the box so a shared link
        (/?q=...) shows what it searched for before the script runs."""
        return template.substitute(q=html.escape(q[:200], quote=True), products=f"{eng.index.count():,}",
                                   page_size=s.page_size)

    @r.get("/health")
    def health(eng=Depends(engine)) -> dict:
        """Open to all: "available" is what Meilisearch clients look for."""
        st = eng.stats()
        return {"status": "available", "products": st["products"], "text_encoder": st["text_encoder"],
                "image_encoder": st["image_encoder"]}

    @r.get("/search", response_model=ApiResult, dependencies=[Depends(search_key)])
    def search_get(q: str = "", page: int = 1, page_size: int | None = None, sort: str = "relevance",
                   type: str | None = None, colour: str | None = None, gender: str | None = None,
                   brand: str | None = None, price_min: float | None = None, price_max: float | None = None,
                   session: str | None = None, eng=Depends(engine)) -> ApiResult:
        split = lambda v: [x for x in (v or "").split("|") if x]  # noqa: E731
        try:
            size = s.page_size if page_size is None else page_size
            req = SearchRequest(text=q or None, page=page, page_size=size, sort=sort, session=session,
                                filters=Filters(type=split(type), colour=split(colour), gender=split(gender),
                                                brand=split(brand), price_min=price_min, price_max=price_max))
        except ValidationError as e:
            raise HTTPException(422, error_line(e))
        return run(eng, gates, req)

    def multipart(eng, req: SearchRequest, images: list[bytes], clip: tuple[str, bytes] | None) -> ApiResult:
        spoken, frames = None, []
        if clip:
            with gates.clip():
                spoken, frames = transcribe_clip(eng, s, req.language, *clip)
        return run(eng, gates, req, images + frames, spoken or None, modality_of(req, images, clip[0] if clip else None))

    @r.post("/search", response_model=ApiResult, dependencies=[Depends(search_key)], openapi_extra=POST_BODY)
    async def search_post(request: Request, eng=Depends(engine)) -> ApiResult:
        """Search with a JSON body, or multipart/form-data: a `query` JSON field plus
        photos (`image`, up to 4), or one `audio` or `video` clip."""
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            req, images, clip = await read_multipart(request, s)
            return await run_in_threadpool(multipart, eng, req, images, clip)
        if ctype and not ctype.startswith("application/json"):
            raise HTTPException(415, "send application/json or multipart/form-data")
        try:
            req = SearchRequest.model_validate_json(await request.body() or b"{}")
        except ValidationError as e:
            raise HTTPException(422, error_line(e))
        return await run_in_threadpool(run, eng, gates, req)

    @r.get("/suggest", dependencies=[Depends(search_key)])
    def suggest(q: str = QueryParam("", max_length=200), limit: int = 8, eng=Depends(engine)) -> dict:
        return {"q": q, "suggestions": eng.vocab.suggest(q, limit=min(max(limit, 1), 20)) if q.strip() else []}

    return r


async def read_multipart(request: Request, s: Settings) -> tuple[SearchRequest, list[bytes], tuple[str, bytes] | None]:
    """The `query` field, the photos (checked, with a decode time-out) and at most one clip."""
    form = await read_form(request, s.max_upload_bytes)
    try:
        req = SearchRequest.model_validate_json(form.get("query") or "{}")
    except ValidationError as e:
        raise HTTPException(422, "query: " + error_line(e))
    uploads = [u for u in form.getlist("image") if hasattr(u, "read")]
    if len(uploads) > MAX_IMAGES:
        raise HTTPException(400, f"at most {MAX_IMAGES} photos in one query")
    images = [await read_upload(u, "image", s.max_upload_bytes) for u in uploads]
    for u, data in zip(uploads, images):
        try:  # the thread may finish later, but the request does not wait for it
            await asyncio.wait_for(run_in_threadpool(check_image, data, u.filename, s.max_image_pixels),
                                   timeout=s.decode_timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(422, f"the image {u.filename!r} took longer than {s.decode_timeout_s:g} s to decode")
    clips = [(k, form.get(k)) for k in ("audio", "video") if hasattr(form.get(k), "read")]
    if len(clips) > 1:
        raise HTTPException(400, "send one audio or one video clip, not both")
    clip = None
    if clips:
        kind, up = clips[0]
        clip = (kind, await read_upload(up, kind, s.max_upload_bytes))
    return req, images, clip
