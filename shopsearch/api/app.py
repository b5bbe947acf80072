"""The HTTP API and the page. One Engine and one EventStore per process, loaded
at start-up; request handlers only search."""

from __future__ import annotations

import asyncio
import html
import logging
import tempfile
import threading
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from string import Template
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi import Query as QueryParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from shopsearch.api import keys, meili
from shopsearch.api.uploads import MAX_IMAGES, check_image, read_form, read_upload, sniff
from shopsearch.catalog.ingest import delete as delete_products, upsert_products
from shopsearch.events.store import Event, EventStore
from shopsearch.schema import Filters, Product, Query, SearchResult, Weights
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


class SearchRequest(BaseModel):
    """The JSON body of POST /search (also the `query` field of a multipart search)."""

    text: str | None = Field(default=None, max_length=1000)
    negative: str | None = Field(default=None, max_length=1000)
    filters: Filters = Field(default_factory=Filters)
    weights: Weights = Field(default_factory=Weights)
    fields: list[Literal["text", "image"]] | None = None
    sort: Literal["relevance", "price_asc", "price_desc", "title"] = "relevance"
    page: int = Field(default=1, ge=1, le=10_000)
    page_size: int = Field(default=20, ge=1, le=200)
    session: str | None = Field(default=None, max_length=128)
    personalize: bool = True
    strict: bool = False
    language: Literal["en", "zh", "auto"] | None = None  # for a spoken query; default from settings


class ApiHit(BaseModel):
    id: str
    title: str
    score: float
    parts: dict[str, float]
    type: str
    colour: str
    gender: str
    brand: str
    price: float | None
    attrs: dict[str, str]
    image_url: str | None


class ApiResult(BaseModel):
    query_id: str
    hits: list[ApiHit]
    total: int  # products that match the query
    related: int = 0  # more candidates after them, reachable by paging
    page: int
    page_size: int
    facets: dict[str, dict[str, int]]
    intent: dict[str, Any] | None
    profile: dict[str, Any] | None
    transcript: str | None = None
    took_ms: float


class EventIn(BaseModel):
    type: Literal["view", "click", "add_to_cart", "purchase"]
    session_id: str = Field(min_length=1, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)
    product_id: str | None = None
    query_id: str | None = None
    query_text: str | None = Field(default=None, max_length=1024)
    position: int | None = Field(default=None, ge=1)


def _errors(e: ValidationError) -> str:
    """Pydantic's errors as one readable line: `field.path: message; ...`."""
    return "; ".join(f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in e.errors())


def _result(res: SearchResult, transcript: str | None = None) -> ApiResult:
    return ApiResult(
        query_id=uuid.uuid4().hex, total=res.total, related=res.related, page=res.page, page_size=res.page_size, facets=res.facets,
        intent=res.intent, profile=res.profile, took_ms=res.took_ms, transcript=transcript,
        hits=[ApiHit(id=h.id, title=h.title, score=h.score, parts=h.parts, type=h.type, colour=h.colour,
                     gender=h.gender, brand=h.brand, price=h.price, attrs=h.attrs,
                     image_url=f"/images/{h.id}" if h.has_image else None) for h in res.hits],
    )


def _swagger_ui_path() -> Path | None:
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.warning("swagger-ui-bundle-v2 is not installed: /docs is a plain list of endpoints")
        return None
    path = Path(str(swagger_ui_path))
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def create_app(index: str | Path, settings: Settings | None = None, engine=None) -> FastAPI:
    """The app over `index`; `engine`, if given, is an Engine already opened on it
    (the CLI opens one to refuse a mismatched index before the server starts)."""
    s = settings or get_settings()
    opened = engine

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from shopsearch.engine import Engine

        store = EventStore.for_index(index, s.events_url)
        purged = store.purge_older_than(s.event_retention_days)  # retention, applied at every start
        if purged:
            log.info("purged %d events older than %s days", purged, s.event_retention_days)
        engine = opened or Engine(str(index), settings=s)
        engine.events = store
        engine.index.serving = True
        engine.warm_up()
        app.state.engine, app.state.events = engine, store
        log.info("serving %s (%d products)", index, engine.index.count())
        yield

    # FastAPI's own /docs and /redoc pull Swagger UI from a CDN; ours are served from disk
    app = FastAPI(title="Shopsearch", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Multimodal product search: text, photo, voice and video queries with facets.")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    swagger = _swagger_ui_path()
    if swagger is not None:
        app.mount("/docs-assets", StaticFiles(directory=swagger), name="docs-assets")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the swagger-ui-bundle-v2 package; without it, a plain list
        of the endpoints (never a page that reaches for the internet)."""
        if swagger is not None:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="Shopsearch API",
                                       swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                       swagger_css_url="/docs-assets/swagger-ui.css",
                                       swagger_favicon_url="/docs-assets/favicon-32x32.png")
        rows = "".join(f"<li><code>{m.upper()} {html.escape(path)}</code> {html.escape(op.get('summary', ''))}</li>"
                       for path, ops in app.openapi()["paths"].items() for m, op in ops.items())
        return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>Shopsearch API</title><h1>Shopsearch API</h1>"
                            f"<p>The schema: <a href=/openapi.json>/openapi.json</a>. (Install swagger-ui-bundle-v2 "
                            f"for the interactive page.)</p><ul>{rows}</ul>")

    # Searches are CPU-bound: running more at once than there are cores only thrashes.
    slots = threading.BoundedSemaphore(max(1, s.search_concurrency))
    # Transcribing a clip takes all the cores for a few hundred ms: one at a time,
    # so a burst of voice queries waits its turn instead of starving every search.
    media_slots = threading.BoundedSemaphore(max(1, s.media_concurrency))
    media_waiting = [0]  # clips queued for a slot; past media_queue_max a clip is turned away (429)
    media_lock = threading.Lock()

    @app.middleware("http")
    async def _crash(request: Request, call_next):
        """Never a stack trace, a path or a secret in a response: a 500 names an error
        id that the server log explains. (Caught here rather than by an exception
        handler, which re-raises and makes uvicorn drop the connection.)"""
        try:
            return await call_next(request)
        except Exception:
            err = uuid.uuid4().hex[:12]
            log.exception("error %s on %s %s", err, request.method, request.url.path)
            return JSONResponse({"detail": f"internal error {err}; see the server log"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        msgs = [f"{'.'.join(str(x) for x in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(msgs)}, status_code=422)

    def engine(request: Request):
        return request.app.state.engine

    def events(request: Request) -> EventStore:
        return request.app.state.events

    # The admin token (the bootstrap) or an admin key for the admin endpoints; search
    # is open until search keys are issued (settings.search_auth), then needs one.
    guard = keys.Guard(s, keys.KeyStore.for_index(index, s))
    admin = keys.dependency(guard, "admin")
    search_key = keys.dependency(guard, "search")
    app.include_router(keys.admin_router(guard))
    meili.install(app, s, slots, guard)  # the Meilisearch-compatible API (docs/api.md)
    if s.cors_origins:  # pages on other origins (an InstantSearch page) may call the API
        app.add_middleware(CORSMiddleware, allow_origins=s.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["*"], max_age=600)

    def run(eng, req: SearchRequest, images: list | None = None, audio_text: str | None = None) -> ApiResult:
        text = " ".join(t for t in (req.text, audio_text) if t) or None
        q = Query(text=text, images=images or [], negative=req.negative, filters=req.filters, weights=req.weights,
                  fields=req.fields, sort=req.sort, page=req.page, page_size=req.page_size, session=req.session,
                  personalize=req.personalize, strict=req.strict)
        if not q.text and not q.images and q.filters.is_empty():
            raise HTTPException(400, "give a query: text, an image, audio, video or filters")
        with slots:
            res = eng.search(q)
        return _result(res, audio_text)

    template = Template((HERE / "templates" / "index.html").read_text(encoding="utf-8"))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(q: str = "", eng=Depends(engine)) -> str:
        """The shopper's page; the query is rendered into the box so a shared link
        (/?q=...) shows what it searched for before the script runs."""
        return template.substitute(q=html.escape(q[:200], quote=True), products=f"{eng.index.count():,}",
                                   page_size=s.page_size)

    @app.get("/health")
    def health(eng=Depends(engine)) -> dict:
        """Open to all: "available" is what Meilisearch clients look for."""
        st = eng.stats()
        return {"status": "available", "products": st["products"], "text_encoder": st["text_encoder"],
                "image_encoder": st["image_encoder"]}

    @app.get("/search", response_model=ApiResult, dependencies=[Depends(search_key)])
    def search_get(q: str = "", page: int = 1, page_size: int | None = None, sort: str = "relevance",
                   type: str | None = None, colour: str | None = None, gender: str | None = None,
                   brand: str | None = None, price_min: float | None = None, price_max: float | None = None,
                   session: str | None = None, eng=Depends(engine)) -> ApiResult:
        split = lambda v: [x for x in (v or "").split("|") if x]
        try:
            size = s.page_size if page_size is None else page_size
            req = SearchRequest(text=q or None, page=page, page_size=size, sort=sort, session=session,
                                filters=Filters(type=split(type), colour=split(colour), gender=split(gender),
                                                brand=split(brand), price_min=price_min, price_max=price_max))
        except ValidationError as e:
            raise HTTPException(422, _errors(e))
        return run(eng, req)

    def media_query(eng, req: SearchRequest, kind: str, data: bytes) -> tuple[str, list]:
        """Transcript (and key frames, for a video) of an uploaded clip; slow, so it
        runs in a worker thread, never on the event loop."""
        try:
            from shopsearch.media import queries as media
        except ImportError:
            raise HTTPException(501, "voice and video queries are not available in this installation "
                                     "(shopsearch.media.queries is missing)")
        from shopsearch.media.audio import clip_seconds

        with tempfile.NamedTemporaryFile(suffix=f".{kind}") as f:
            f.write(data)
            f.flush()
            try:
                secs = clip_seconds(f.name)
            except ValueError as e:
                raise HTTPException(422, f"cannot decode the {kind}: {e}")
            if secs > s.max_clip_seconds:
                raise HTTPException(413, f"the {kind} clip is {secs:.0f} s long; the limit is {s.max_clip_seconds:.0f} s")
            try:
                if kind == "audio":
                    return media.transcribe(f.name, eng.vocab, req.language), []
                text, frames = media.video_query(f.name, eng.vocab)
                return text, list(frames)
            except ValueError as e:
                log.info("undecodable %s upload: %s", kind, e)
                raise HTTPException(422, f"cannot decode the {kind}: {e}")

    def multipart_search(eng, req: SearchRequest, images: list[bytes], clip: tuple[str, bytes] | None) -> ApiResult:
        spoken, frames = None, []
        if clip:
            with media_lock:
                if media_waiting[0] >= s.media_concurrency + s.media_queue_max:
                    raise HTTPException(429, "busy transcribing other clips: try again in a few seconds, or type the query",
                                        headers={"Retry-After": "2"})
                media_waiting[0] += 1
            try:
                with media_slots:
                    spoken, frames = media_query(eng, req, *clip)
            finally:
                with media_lock:
                    media_waiting[0] -= 1
        return run(eng, req, images + frames, spoken or None)

    @app.post("/search", response_model=ApiResult, dependencies=[Depends(search_key)], openapi_extra={"requestBody": {"content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/SearchRequest"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "query": {"type": "string", "description": "a SearchRequest as JSON"},
            "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "audio": {"type": "string", "format": "binary"},
            "video": {"type": "string", "format": "binary"}}}}}}})
    async def search_post(request: Request, eng=Depends(engine)) -> ApiResult:
        """Search with a JSON body, or multipart/form-data: a `query` JSON field plus
        photos (`image`, up to 4), or one `audio` or `video` clip."""
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await read_form(request, s.max_upload_bytes)
            try:
                req = SearchRequest.model_validate_json(form.get("query") or "{}")
            except ValidationError as e:
                raise HTTPException(422, "query: " + _errors(e))
            uploads = [u for u in form.getlist("image") if hasattr(u, "read")]
            if len(uploads) > MAX_IMAGES:
                raise HTTPException(400, f"at most {MAX_IMAGES} photos in one query")
            images = [await read_upload(u, "image", s.max_upload_bytes) for u in uploads]
            for u, data in zip(uploads, images):
                try:  # the thread may finish later, but the request does not wait for it
                    await asyncio.wait_for(run_in_threadpool(check_image, data, u.filename, s.max_image_pixels),
                                           timeout=s.decode_timeout_s)
                except asyncio.TimeoutError:
                    raise HTTPException(422, f"the image {u.filename!r} took longer than {s.decode_timeout_s:g} s "
                                             "to decode")
            clips = [(k, form.get(k)) for k in ("audio", "video") if hasattr(form.get(k), "read")]
            if len(clips) > 1:
                raise HTTPException(400, "send one audio or one video clip, not both")
            clip = None
            if clips:
                kind, up = clips[0]
                clip = (kind, await read_upload(up, kind, s.max_upload_bytes))
            return await run_in_threadpool(multipart_search, eng, req, images, clip)
        if ctype and not ctype.startswith("application/json"):
            raise HTTPException(415, "send application/json or multipart/form-data")
        try:
            req = SearchRequest.model_validate_json(await request.body() or b"{}")
        except ValidationError as e:
            raise HTTPException(422, _errors(e))
        return await run_in_threadpool(run, eng, req)

    def _pos(eng, product_id: str) -> int:
        pos = eng.index.position(product_id)
        if pos is None:
            raise HTTPException(404, f"no product {product_id!r}")
        return pos

    @app.get("/products/{product_id}", dependencies=[Depends(search_key)])
    def product(product_id: str, eng=Depends(engine)) -> dict:
        p = eng.index.product(_pos(eng, product_id))
        d = p.model_dump(exclude={"image"})
        d["image_url"] = f"/images/{p.id}" if p.image else None
        return d

    @app.get("/products/{product_id}/similar", response_model=ApiResult, dependencies=[Depends(search_key)])
    def similar(product_id: str, page_size: int = 20, page: int = 1, eng=Depends(engine)) -> ApiResult:
        _pos(eng, product_id)
        with slots:
            return _result(eng.similar(product_id, page_size=min(max(page_size, 1), 200), page=max(page, 1)))

    @app.get("/images/{product_id}", responses={200: {"content": {"image/jpeg": {}}}, 304: {}, 404: {}})
    def image(product_id: str, request: Request, eng=Depends(engine)) -> Response:
        """The product's photo; cached for a day, then revalidated by ETag (304)."""
        p = eng.index.product(_pos(eng, product_id))
        path = Path(p.image) if p.image else None
        if path is None or not path.is_file():
            raise HTTPException(404, f"product {product_id!r} has no photo")
        st = path.stat()
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        headers = {"Cache-Control": "public, max-age=86400", "ETag": etag}
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        with path.open("rb") as f:  # the type by the bytes, not the file name
            mime = sniff(f.read(16), "image")
        if not mime:  # whatever the record says, only photos leave this endpoint
            log.warning("product %s: %s is not an image file; not served", product_id, path)
            raise HTTPException(404, f"product {product_id!r} has no photo")
        return FileResponse(path, media_type=mime, headers=headers)

    @app.get("/suggest", dependencies=[Depends(search_key)])
    def suggest(q: str = QueryParam("", max_length=200), limit: int = 8, eng=Depends(engine)) -> dict:
        return {"q": q, "suggestions": eng.vocab.suggest(q, limit=min(max(limit, 1), 20)) if q.strip() else []}

    @app.post("/events", status_code=201)
    def record(ev: EventIn, store: EventStore = Depends(events), eng=Depends(engine)) -> dict:
        if ev.product_id is not None and eng.index.position(ev.product_id) is None:
            raise HTTPException(404, f"no product {ev.product_id!r}")
        return {"id": store.record(Event(**ev.model_dump()))}

    @app.delete("/sessions/{session_id}")
    def erase_session(session_id: str, store: EventStore = Depends(events)) -> dict:
        return {"deleted": store.delete_session(session_id)}

    @app.delete("/users/{user_id}")
    def erase_user(user_id: str, store: EventStore = Depends(events)) -> dict:
        return {"deleted": store.delete_user(user_id)}

    @app.post("/admin/products", dependencies=[Depends(admin)])
    def admin_upsert(products: list[Product], eng=Depends(engine)) -> dict:
        """Add or update products; a photo is a path under SHOPSEARCH_IMAGES_ROOT
        (relative paths resolve there; URLs are never fetched)."""
        if len(products) > 1000:
            raise HTTPException(413, "at most 1000 products in one request")
        errors: list[tuple[int, str]] = []
        ok: list[tuple[int, Product]] = []
        for n, p in enumerate(products, 1):
            try:
                ok.append((n, p.model_copy(update={"image": admin_photo(p.image)}) if p.image else p))
            except ValueError as e:
                errors.append((n, f"product {p.id}: {e}"))
        if ok:
            for e in upsert_products(eng.index, eng.encoder, [p for _, p in ok], s):
                errors.append((ok[e.row - 1][0], e.message))
        return {"upserted": len(products) - len(errors), "errors": [f"row {n}: {m}" for n, m in sorted(errors)]}

    def admin_photo(value: str) -> str:
        if value.lower().startswith(("http://", "https://", "ftp://", "file:", "data:", "//")):
            raise ValueError("photo URLs are not fetched: copy the file under SHOPSEARCH_IMAGES_ROOT and give its path")
        if not s.images_root:
            raise ValueError("photos through the admin API need SHOPSEARCH_IMAGES_ROOT (the folder they may come from)")
        root = Path(s.images_root).resolve()
        try:
            full = (root / value).resolve()  # an absolute value replaces root, then must still lie under it
        except OSError as e:
            raise ValueError(f"photo path cannot be used ({e.strerror})") from None
        if not full.is_relative_to(root):
            raise ValueError(f"photo path {value!r} is outside SHOPSEARCH_IMAGES_ROOT")
        return str(full)

    @app.delete("/admin/products/{product_id}", dependencies=[Depends(admin)])
    def admin_delete(product_id: str, eng=Depends(engine)) -> dict:
        _pos(eng, product_id)
        return {"deleted": delete_products(eng.index, [product_id])}

    def openapi() -> dict[str, Any]:
        """FastAPI's schema plus SearchRequest, which POST /search parses by hand
        (it takes JSON or multipart) and so FastAPI cannot see."""
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            req = SearchRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(req.pop("$defs", {}))
            schemas["SearchRequest"] = req
            # Every error is {"detail": "one readable line"} (our handlers), not FastAPI's list form.
            schemas.pop("ValidationError", None)
            schemas.pop("HTTPValidationError", None)
            schemas["Error"] = {"type": "object", "required": ["detail"], "title": "Error",
                                "properties": {"detail": {"type": "string"}}}
            err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for path, ops in spec["paths"].items():
                for method, op in ops.items():
                    codes = {"422": "invalid input", "500": "internal error (the log has its id)"}
                    if "{" in path or path == "/events":
                        codes["404"] = "no such product"
                    if method == "post" and path == "/search":
                        codes.update({"400": "no query, or too many files", "413": "too large or too long",
                                      "429": "busy transcribing: retry after Retry-After seconds",
                                      "415": "not a supported file type"})
                    if path.startswith("/admin"):
                        codes.update({"401": "missing or wrong admin token or key",
                                      "403": "admin endpoints are off, or a search-only key",
                                      "413": "too many products in one request"})
                    if path in ("/search", "/suggest") or path.startswith(("/products", "/admin")):
                        codes.setdefault("401", "missing or wrong key")
                        codes.setdefault("429", "the key's rate limit is used up: retry after Retry-After seconds")
                    for code, what in codes.items():
                        op.setdefault("responses", {})[code] = {"description": what, **err}
            meili.document_openapi(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def serve(index: str | Path, host: str, port: int, settings: Settings | None = None, engine=None) -> None:
    """Run the app with uvicorn (one process; models load once at start-up)."""
    import uvicorn

    uvicorn.run(create_app(index, settings, engine), host=host, port=port, log_level="info")
