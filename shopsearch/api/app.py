"""The HTTP API and the page. One Engine and one EventStore per process, loaded
at start-up; request handlers only search."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError

from shopsearch.api.uploads import read_upload
from shopsearch.catalog.ingest import delete as delete_products, upsert_products
from shopsearch.events.store import Event, EventStore
from shopsearch.schema import Filters, Product, Query, SearchResult, Weights
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


class SearchRequest(BaseModel):
    """The JSON body of POST /search (also the `query` field of a multipart search)."""

    text: str | None = None
    negative: str | None = None
    filters: Filters = Field(default_factory=Filters)
    weights: Weights = Field(default_factory=Weights)
    fields: list[Literal["text", "image"]] | None = None
    sort: Literal["relevance", "price_asc", "price_desc", "title"] = "relevance"
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=20, ge=1, le=200)
    session: str | None = None
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
    total: int
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


def _result(res: SearchResult, transcript: str | None = None) -> ApiResult:
    return ApiResult(
        query_id=uuid.uuid4().hex, total=res.total, page=res.page, page_size=res.page_size, facets=res.facets,
        intent=res.intent, profile=res.profile, took_ms=res.took_ms, transcript=transcript,
        hits=[ApiHit(id=h.id, title=h.title, score=h.score, parts=h.parts, type=h.type, colour=h.colour,
                     gender=h.gender, brand=h.brand, price=h.price, attrs=h.attrs,
                     image_url=f"/images/{h.id}" if h.has_image else None) for h in res.hits],
    )


def create_app(index: str | Path, settings: Settings | None = None) -> FastAPI:
    s = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from shopsearch.engine import Engine

        store = EventStore.for_index(index, s.events_url)
        purged = store.purge_older_than(s.event_retention_days)  # retention, applied at every start
        if purged:
            log.info("purged %d events older than %s days", purged, s.event_retention_days)
        engine = Engine(str(index), settings=s, events=store)
        engine.warm_up()
        app.state.engine, app.state.events = engine, store
        log.info("serving %s (%d products)", index, engine.index.count())
        yield

    app = FastAPI(title="Shopsearch", version="0.1.0", lifespan=lifespan,
                  description="Multimodal product search: text, photo, voice and video queries with facets.")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # Searches are CPU-bound: running more at once than there are cores only thrashes.
    slots = threading.BoundedSemaphore(max(1, s.search_concurrency))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):  # never a stack trace in a response
        log.exception("error on %s", request.url.path)
        return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        msgs = [f"{'.'.join(str(x) for x in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(msgs)}, status_code=422)

    def engine(request: Request):
        return request.app.state.engine

    def events(request: Request) -> EventStore:
        return request.app.state.events

    def admin(authorization: str | None = Header(default=None)) -> None:
        if not s.admin_token:
            raise HTTPException(403, "admin endpoints are off: set SHOPSEARCH_ADMIN_TOKEN to enable them")
        if authorization != f"Bearer {s.admin_token}":
            raise HTTPException(401, "missing or wrong admin token")

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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return (HERE / "templates" / "index.html").read_text(encoding="utf-8")

    @app.get("/health")
    def health(eng=Depends(engine)) -> dict:
        st = eng.stats()
        return {"status": "ok", "products": st["products"], "text_encoder": st["text_encoder"],
                "image_encoder": st["image_encoder"]}

    @app.get("/search", response_model=ApiResult)
    def search_get(q: str = "", page: int = 1, page_size: int = 20, sort: str = "relevance",
                   type: str | None = None, colour: str | None = None, gender: str | None = None,
                   brand: str | None = None, price_min: float | None = None, price_max: float | None = None,
                   session: str | None = None, eng=Depends(engine)) -> ApiResult:
        split = lambda v: [x for x in (v or "").split("|") if x]
        try:
            req = SearchRequest(text=q or None, page=page, page_size=page_size, sort=sort, session=session,
                                filters=Filters(type=split(type), colour=split(colour), gender=split(gender),
                                                brand=split(brand), price_min=price_min, price_max=price_max))
        except ValidationError as e:
            raise HTTPException(422, "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()))
        return run(eng, req)

    @app.post("/search", response_model=ApiResult)
    async def search_post(request: Request, eng=Depends(engine)) -> ApiResult:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await request.form()
            try:
                req = SearchRequest.model_validate_json(form.get("query") or "{}")
            except ValidationError as e:
                raise HTTPException(422, f"query: {e.errors()[0]['msg']}")
            images, spoken = [], None
            for up in form.getlist("image"):
                if hasattr(up, "read"):
                    images.append(await read_upload(up, "image", s.max_upload_bytes))
            audio, video = form.get("audio"), form.get("video")
            if hasattr(audio, "read") or hasattr(video, "read"):
                try:
                    from shopsearch.media import queries as media
                except ImportError:
                    raise HTTPException(501, "voice and video queries are not available in this installation")
                kind, up = ("audio", audio) if hasattr(audio, "read") else ("video", video)
                data = await read_upload(up, kind, s.max_upload_bytes)
                with tempfile.NamedTemporaryFile(suffix=f".{kind}") as f:
                    f.write(data)
                    f.flush()
                    try:
                        if kind == "audio":
                            spoken = media.transcribe(f.name, eng.vocab, req.language)
                        else:
                            spoken, frames = media.video_query(f.name, eng.vocab)
                            images += frames
                    except ValueError as e:
                        raise HTTPException(422, f"cannot decode the {kind}: {e}")
            return run(eng, req, images, spoken)
        try:
            req = SearchRequest.model_validate(await request.json())
        except json.JSONDecodeError:
            raise HTTPException(422, "the body is not valid JSON")
        except ValidationError as e:
            raise HTTPException(422, "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()))
        return run(eng, req)

    def _pos(eng, product_id: str) -> int:
        pos = eng.index.position(product_id)
        if pos is None:
            raise HTTPException(404, f"no product {product_id!r}")
        return pos

    @app.get("/products/{product_id}")
    def product(product_id: str, eng=Depends(engine)) -> dict:
        p = eng.index.product(_pos(eng, product_id))
        d = p.model_dump(exclude={"image"})
        d["image_url"] = f"/images/{p.id}" if p.image else None
        return d

    @app.get("/products/{product_id}/similar", response_model=ApiResult)
    def similar(product_id: str, page_size: int = 20, page: int = 1, eng=Depends(engine)) -> ApiResult:
        _pos(eng, product_id)
        with slots:
            return _result(eng.similar(product_id, page_size=min(max(page_size, 1), 200), page=max(page, 1)))

    @app.get("/images/{product_id}")
    def image(product_id: str, eng=Depends(engine)):
        p = eng.index.product(_pos(eng, product_id))
        if not p.image or not Path(p.image).is_file():
            raise HTTPException(404, f"product {product_id!r} has no photo")
        return FileResponse(p.image, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/suggest")
    def suggest(q: str = "", limit: int = 8, eng=Depends(engine)) -> dict:
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
        errors = upsert_products(eng.index, eng.encoder, products, s)
        return {"upserted": len(products) - len(errors), "errors": [str(e) for e in errors]}

    @app.delete("/admin/products/{product_id}", dependencies=[Depends(admin)])
    def admin_delete(product_id: str, eng=Depends(engine)) -> dict:
        _pos(eng, product_id)
        return {"deleted": delete_products(eng.index, [product_id])}

    return app


def serve(index: str | Path, host: str, port: int, settings: Settings | None = None) -> None:
    """Run the app with uvicorn (one process; models load once at start-up)."""
    import uvicorn

    uvicorn.run(create_app(index, settings), host=host, port=port, log_level="info")
