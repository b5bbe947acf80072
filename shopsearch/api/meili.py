"""A Meilisearch-compatible API over the served index, so shops keep the clients
and widgets they have (the official Meilisearch clients, InstantSearch through
instant-meilisearch) and get Shopsearch's ranking behind them.

The index appears under one uid (settings.meili_index_uid, "products"). Hits are
the product documents with Shopsearch's field names, so filters and facets name
the same fields. Errors here are in Meilisearch's shape (message, code, type,
link); the native API keeps its own. What is and is not supported: docs/api.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from shopsearch.api.filter_syntax import Columns, FilterError, compile_filter, id_filters, parse_filter
from shopsearch.api.keys import Denied, Guard
from shopsearch.api.uploads import MAX_IMAGES, check_image, sniff
from shopsearch.schema import FACET_FIELDS, Product, Query, Weights
from shopsearch.settings import Settings

log = logging.getLogger(__name__)

MAX_TOTAL_HITS = 1000  # Meilisearch's default pagination.maxTotalHits: offset + limit stop there
MAX_VALUES_PER_FACET = 100  # Meilisearch's default faceting.maxValuesPerFacet
DOC_FIELDS = ("id", "title", "description", "type", "colour", "gender", "brand", "price")
ERROR_LINK = "https://docs.meilisearch.com/errors#"
WORD = re.compile(r"\w+", re.UNICODE)


class MeiliError(Exception):
    """An error answered in Meilisearch's shape."""

    def __init__(self, status: int, code: str, message: str, type_: str = "invalid_request",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.type, self.headers = status, code, message, type_, headers

    def body(self) -> dict[str, str]:
        return {"message": self.message, "code": self.code, "type": self.type, "link": ERROR_LINK + self.code}


class MeiliErrorBody(BaseModel):
    message: str
    code: str
    type: str
    link: str


class Hybrid(BaseModel):
    """Meilisearch's hybrid search: semanticRatio 0 is keywords only (BM25), 1 meaning
    only (the dense text and photo spaces), 0.5 Shopsearch's usual blend."""

    model_config = ConfigDict(extra="forbid")
    semanticRatio: float = Field(default=0.5, ge=0.0, le=1.0)
    embedder: str | None = Field(default=None, max_length=200)


FilterParam = str | list[str | list[str]] | None


class SearchParams(BaseModel):
    """The body of POST /indexes/{uid}/search: Meilisearch's search parameters, plus
    Shopsearch's own (image, imageId, intent, negative, session)."""

    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(default=None, max_length=1000)
    offset: int | None = Field(default=None, ge=0, le=10**9)
    limit: int | None = Field(default=None, ge=0, le=10**9)
    hitsPerPage: int | None = Field(default=None, ge=0, le=10**9)
    page: int | None = Field(default=None, ge=0, le=10**9)
    filter: FilterParam = None
    facets: list[str] | None = Field(default=None, max_length=100)
    attributesToRetrieve: list[str] | None = Field(default=None, max_length=200)
    attributesToHighlight: list[str] | None = Field(default=None, max_length=200)
    highlightPreTag: str = Field(default="<em>", max_length=100)
    highlightPostTag: str = Field(default="</em>", max_length=100)
    sort: list[str] | None = Field(default=None, max_length=10)
    showRankingScore: bool = False
    showRankingScoreDetails: bool = False
    hybrid: Hybrid | None = None
    # Accepted and without effect here (display details Shopsearch does not compute)
    attributesToCrop: list[str] | None = None
    cropLength: int | None = None
    cropMarker: str | None = None
    showMatchesPosition: bool | None = None
    matchingStrategy: Literal["last", "all", "frequency"] | None = None
    retrieveVectors: bool | None = None
    locales: list[str] | None = None
    showPerformanceDetails: bool | None = None
    # Refused when set: they would change the results in ways Shopsearch cannot honour
    distinct: str | None = None
    vector: list[float] | None = None
    rankingScoreThreshold: float | None = None
    attributesToSearchOn: list[str] | None = None
    # Shopsearch's own
    image: str | list[str] | None = Field(default=None, description="a photo (or up to 4) as data: URLs")
    imageId: str | None = Field(default=None, max_length=200,
                                description="search by the photo of the product with this id")
    intent: Literal["boost", "strict", "off"] = Field(
        default="boost", description="what the parsed query does: boost matching products, filter (strict), or nothing")
    negative: str | None = Field(default=None, max_length=1000)
    session: str | None = Field(default=None, max_length=128)


class MultiQuery(SearchParams):
    indexUid: str = Field(max_length=400)
    federationOptions: dict[str, Any] | None = None


class MultiSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queries: list[MultiQuery] = Field(max_length=100)
    federation: dict[str, Any] | None = None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _invalid(e: ValidationError, where: str = "") -> MeiliError:
    """Pydantic's first error as Meilisearch names it: unknown fields are bad_request,
    a bad value of `limit` is invalid_search_limit, and so on."""
    err = e.errors()[0]
    loc = [str(x) for x in err.get("loc", ())]
    if where == "multi" and len(loc) >= 2 and loc[0] == "queries":
        where, loc = f"Inside `.queries[{loc[1]}]`: ", loc[2:]
    else:
        where = ""
    field = loc[0] if loc else "body"
    path = ".".join(loc) or "body"
    if err.get("type") == "extra_forbidden":
        return MeiliError(400, "bad_request", f"{where}Unknown field `{path}`: see docs/api.md for the supported "
                                              "search parameters")
    code = "invalid_multi_search_queries" if field == "queries" else f"invalid_search_{_snake(field)}"
    return MeiliError(400, code, f"{where}Invalid value at `.{path}`: {err.get('msg')}")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def document(p: Product) -> dict[str, Any]:
    """A product as a Meilisearch document: Shopsearch's field names, extra attributes
    at the top level (a core field wins a clash), and the photo's URL here."""
    d: dict[str, Any] = {k: getattr(p, k) for k in DOC_FIELDS}
    d.update((k, v) for k, v in p.attrs.items() if k not in d)
    d["image_url"] = f"/images/{p.id}" if p.image else None
    return d


def _pick(doc: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if not fields or "*" in fields:
        return doc
    return {k: doc[k] for k in fields if k in doc}


def _number_key(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(float(x))


class _Catalogue:
    """What the Meilisearch view needs of one index generation: the filterable
    attributes (core fields plus every extra attribute seen) and filter columns."""

    def __init__(self, ix) -> None:
        self.ix = ix
        self.cols = Columns(ix.column, ix.ids)
        n = len(ix.ids())
        attrs: set[str] = set()
        # extra attributes: those of the first 20k products (a large index reads records on
        # demand; an attribute only later products have is not filterable here)
        for i in range(min(n, 20_000)):
            attrs.update(ix.product(i).attrs)
        self.extra = attrs - set(DOC_FIELDS)
        self.filterable = {"id", "title", "type", "colour", "gender", "brand", "price"} | self.extra
        self.numeric_extra: dict[str, bool] = {}

    def numeric(self, name: str) -> bool:
        """True for price, and for an extra attribute whose every value is a number (year)."""
        if name == "price":
            return True
        if name not in self.extra:
            return False
        if name not in self.numeric_extra:
            x = self.cols.numeric(name)
            present = self.cols.lower(name) != ""
            self.numeric_extra[name] = bool(present.any()) and not np.isnan(x[present]).any()
        return self.numeric_extra[name]


class Meili:
    """The Meilisearch view of the app's engine."""

    def __init__(self, settings: Settings, slots: threading.BoundedSemaphore, guard: Guard) -> None:
        self.s = settings
        self.slots = slots
        self.guard = guard
        self.uid = settings.meili_index_uid
        self._cat: tuple[tuple[int, int], _Catalogue] | None = None
        self._cat_lock = threading.Lock()

    # -- helpers -------------------------------------------------------------------
    def catalogue(self, ix) -> _Catalogue:
        key = (ix.generation(), len(ix.ids()))
        with self._cat_lock:
            if self._cat is None or self._cat[0] != key:
                self._cat = (key, _Catalogue(ix))
            return self._cat[1]

    def check_uid(self, uid: str) -> None:
        if uid != self.uid:
            raise MeiliError(404, "index_not_found", f"Index `{uid}` not found: this server serves `{self.uid}`")

    def index_info(self, eng) -> dict[str, Any]:
        loc = Path(str(eng.index.location))
        rec = loc / "records.sqlite"
        try:
            created, updated = loc.stat().st_ctime, rec.stat().st_mtime
        except OSError:
            created = updated = time.time()
        return {"uid": self.uid, "primaryKey": "id", "createdAt": _iso(min(created, updated)), "updatedAt": _iso(updated)}

    def images(self, p: SearchParams, eng) -> list[Any]:
        """The query photos: data: URLs decoded and checked like uploads, or a product's own photo."""
        out: list[Any] = []
        urls = [p.image] if isinstance(p.image, str) else list(p.image or [])
        if len(urls) + (1 if p.imageId else 0) > MAX_IMAGES:
            raise MeiliError(400, "invalid_search_image", f"at most {MAX_IMAGES} photos in one query")
        for n, url in enumerate(urls):
            head, sep, data = url.partition(",")
            if not (sep and head.startswith("data:") and head.endswith(";base64")):
                raise MeiliError(400, "invalid_search_image", f"image[{n}] is not a base64 data: URL "
                                 "(photo URLs are never fetched)")
            if len(data) > self.s.max_upload_bytes * 4 // 3 + 4:
                raise MeiliError(413, "invalid_search_image", f"image[{n}] is larger than "
                                 f"{self.s.max_upload_bytes:,} bytes")
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise MeiliError(400, "invalid_search_image", f"image[{n}] is not valid base64") from None
            if not sniff(raw, "image"):
                raise MeiliError(415, "invalid_search_image", f"image[{n}] is not a JPEG, PNG, WebP or GIF photo")
            try:
                check_image(raw, f"image[{n}]", self.s.max_image_pixels)
            except HTTPException as e:
                raise MeiliError(e.status_code, "invalid_search_image", str(e.detail)) from None
            out.append(raw)
        if p.imageId:
            pos = eng.index.position(p.imageId)
            prod = eng.index.product(pos) if pos is not None else None
            if prod is None or not prod.image or not Path(prod.image).is_file():
                raise MeiliError(400, "invalid_search_image_id", f"no product `{p.imageId}` with a photo")
            out.append(prod.image)
        return out

    def sort(self, p: SearchParams) -> str:
        crit = [c for c in (p.sort or []) if c not in ("_rankingScore:desc",)]
        if not crit:
            return "relevance"
        if len(crit) > 1:
            raise MeiliError(400, "invalid_search_sort", "Shopsearch sorts by one attribute at a time: "
                             "`price:asc`, `price:desc` or `title:asc`")
        known = {"price:asc": "price_asc", "price:desc": "price_desc", "title:asc": "title"}
        if crit[0] not in known:
            raise MeiliError(400, "invalid_search_sort", f"cannot sort by `{crit[0]}`: the sortable criteria are "
                             "`price:asc`, `price:desc` and `title:asc`")
        return known[crit[0]]

    # -- search --------------------------------------------------------------------
    def search(self, eng, p: SearchParams) -> dict[str, Any]:
        t0 = time.perf_counter()
        for name in ("distinct", "vector", "rankingScoreThreshold", "attributesToSearchOn"):
            if getattr(p, name) is not None:
                raise MeiliError(400, "feature_not_supported", f"`{name}` is not supported by Shopsearch")
        ix = eng.index
        with ix.pinned():
            cat = self.catalogue(ix)
            try:
                node = parse_filter(p.filter)
                comp = compile_filter(node, cat.cols, ix.ids, cat.filterable)
            except FilterError as e:
                raise MeiliError(400, "invalid_search_filter", str(e)) from None
            facets = list(p.facets or [])
            if "*" in facets:
                facets = sorted(cat.filterable - {"id", "title"})
            bad = [f for f in facets if f not in cat.filterable]
            if bad:
                raise MeiliError(400, "invalid_search_facets", f"attribute `{bad[0]}` is not filterable; the "
                                 f"filterable attributes are {', '.join(f'`{a}`' for a in sorted(cat.filterable))}")
            sort = self.sort(p)
            images = self.images(p, eng)
            text = (p.q or "").strip() or None
            browse = text is None and not images

            page_mode = p.hitsPerPage is not None or p.page is not None
            if page_mode:
                hpp = 20 if p.hitsPerPage is None else p.hitsPerPage
                pg = 1 if p.page is None else p.page
                start, want = max(pg - 1, 0) * hpp, (hpp if pg >= 1 else 0)
            else:
                start, want = p.offset or 0, 20 if p.limit is None else p.limit
            if want and start % want == 0:  # the engine's own page
                epage, esize, skip = start // want + 1, want, 0
            else:  # a window the engine's pages do not align with: take the head and slice
                want = max(0, min(want, MAX_TOTAL_HITS - start))
                epage, esize, skip = 1, max(1, start + want), start
            if esize > 1000:  # Query.page_size's bound
                epage, esize, skip, want = 1, 1000, start, max(0, min(want, 1000 - start))

            core = [f for f in facets if f in FACET_FIELDS]
            engine_facets = bool(core) and not browse
            # facets beyond the engine's four (or stats) over a query's hits need their positions:
            # the first thousand come with the hits themselves when the page lies among them
            head_is_pool = not browse and any(f not in FACET_FIELDS for f in facets) and start + want <= 1000
            if head_is_pool:
                epage, esize, skip = 1, 1000, start
            filters = comp.filters
            if engine_facets and comp.fast and any(getattr(filters, f) for f in FACET_FIELDS):
                # Meilisearch counts facets over the filtered hits; the engine, given these as
                # facet filters, would count each as if it were off (multi-select). As ids, it does not.
                filters = id_filters(ix.mask(filters), ix.ids())
            weights = Weights()
            if p.hybrid is not None:
                r = p.hybrid.semanticRatio
                kw, sem = min(1.0, 2 * (1 - r)), min(1.0, 2 * r)
                weights = Weights(bm25=self.s.weight_bm25 * kw, text=self.s.weight_text * sem,
                                  image=self.s.weight_image * sem)
            q = Query(text=text, images=images, negative=p.negative, filters=filters, weights=weights, sort=sort,
                      page=epage, page_size=esize, understand=p.intent != "off", strict=p.intent == "strict",
                      facets=engine_facets, session=p.session)
            with self.slots:
                res = eng.search(q)
            hits = res.hits[skip:skip + want] if want else []
            out_hits = [self.hit(ix, h, p, text) for h in hits]

            body: dict[str, Any] = {"hits": out_hits, "query": p.q or "", "processingTimeMs": 0}
            if page_mode:
                body.update(hitsPerPage=hpp, page=pg, totalPages=math.ceil(res.total / hpp) if hpp else 0,
                            totalHits=res.total)
            else:
                body.update(limit=20 if p.limit is None else p.limit, offset=start, estimatedTotalHits=res.total)
            if p.facets is not None:
                dist, stats = self.facets(eng, cat, facets, res, q, comp, browse, head_is_pool)
                body["facetDistribution"], body["facetStats"] = dist, stats
            if res.intent is not None:
                body["intent"] = res.intent
        body["processingTimeMs"] = int(round((time.perf_counter() - t0) * 1000))
        return body

    def hit(self, ix, h, p: SearchParams, text: str | None) -> dict[str, Any]:
        pos = ix.position(h.id)
        doc = document(ix.product(pos)) if pos is not None else {"id": h.id, "title": h.title}
        out = _pick(doc, p.attributesToRetrieve)
        if p.attributesToHighlight:
            out["_formatted"] = self.highlight(out, p, text)
        if p.showRankingScore:
            # Monotone in the fused score and in [0, 1]; not Meilisearch's ranking rules.
            out["_rankingScore"] = round(0.5 + 0.5 * h.score / (1 + abs(h.score)), 6)
        if p.showRankingScoreDetails:
            out["_rankingScoreDetails"] = {"shopsearch": {"score": h.score, "parts": h.parts}}
        return out

    def highlight(self, doc: dict[str, Any], p: SearchParams, text: str | None) -> dict[str, Any]:
        """_formatted: the retrieved attributes, the query's words (as word prefixes)
        wrapped in the tags in those asked for."""
        words = sorted({w for w in WORD.findall((text or "").lower())}, key=len, reverse=True)
        rx = re.compile(r"\b(" + "|".join(map(re.escape, words)) + ")", re.IGNORECASE) if words else None
        fields = set(doc) if "*" in (p.attributesToHighlight or []) else set(p.attributesToHighlight or [])
        pre, post = p.highlightPreTag, p.highlightPostTag
        out: dict[str, Any] = {}
        for k, v in doc.items():
            if isinstance(v, str) and k in fields and rx is not None:
                out[k] = rx.sub(lambda m: pre + m.group(0) + post, v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = str(v)  # Meilisearch formats numbers as text
            else:
                out[k] = v
        return out

    def facets(self, eng, cat: _Catalogue, names: list[str], res, q: Query, comp, browse: bool,
               head_is_pool: bool = False) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
        """facetDistribution and facetStats over the whole result. Browsing, the result
        is the filter's mask. With a query, the engine's counts serve type, colour,
        gender and brand; other attributes and stats need the result's positions,
        fetched a thousand at a time (the cost of asking for them; `head_is_pool`:
        `res` is already the first thousand)."""
        ix = eng.index
        dist: dict[str, dict[str, int]] = {}
        stats: dict[str, dict[str, float]] = {}
        if not names:
            return dist, stats
        pool: np.ndarray | None = None
        if browse:
            m = comp.mask if comp.mask is not None else ix.mask(comp.filters)
            pool = np.arange(len(ix.ids())) if m is None else np.flatnonzero(m)
        elif any(f not in FACET_FIELDS for f in names):
            got: list[int] = []
            page = 1
            if head_is_pool:
                got.extend(p for p in (ix.position(h.id) for h in res.hits) if p is not None)
                page = 2 if len(res.hits) == 1000 else 0
            while page and len(got) < res.total:
                with self.slots:
                    r = eng.search(q.model_copy(update={"page": page, "page_size": 1000, "facets": False}))
                got.extend(p for p in (ix.position(h.id) for h in r.hits) if p is not None)
                if len(r.hits) < 1000:
                    break
                page += 1
            # the products that match come first (a sure intent orders them so; with a relevance
            # cut only, the first `total` hits stand for them): the related rest is not counted
            pool = np.array(got[: res.total], np.int64)
        for name in names:
            if pool is None or (name in FACET_FIELDS and not browse):
                counts = res.facets.get(name, {})
            else:
                if cat.numeric(name):
                    x = cat.cols.numeric(name)[pool]
                    x = x[~np.isnan(x)]
                    counts = dict(Counter(_number_key(v) for v in x.tolist()))
                    if len(x):
                        stats[name] = {"min": float(x.min()), "max": float(x.max())}
                else:
                    counts = Counter(str(v) for v in ix.column(name)[pool].tolist() if v)
                counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_VALUES_PER_FACET])
            dist[name] = counts
        return dist, stats


def install(app: FastAPI, settings: Settings, slots: threading.BoundedSemaphore, guard: Guard) -> Meili:
    """Mount the Meilisearch routes and their error handler on the app."""
    meili = Meili(settings, slots, guard)
    app.add_exception_handler(MeiliError, _handler)  # type: ignore[arg-type]
    app.include_router(router(meili))
    return meili


async def _handler(request: Request, exc: MeiliError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _auth(meili: Meili) -> Callable[..., None]:
    def check(authorization: str | None = Header(default=None)) -> None:
        try:
            meili.guard.check(authorization, "search")
        except Denied as d:
            code = {"missing_authorization_header": "missing_authorization_header", "too_many_requests":
                    "too_many_search_requests"}.get(d.code, "invalid_api_key")
            status = 403 if code == "invalid_api_key" and d.status == 401 else d.status
            headers = {"Retry-After": str(d.retry_after)} if d.retry_after is not None else None
            raise MeiliError(status, code, d.message, "auth" if status in (401, 403) else "system", headers)

    return check


def _body_schema(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}}


async def _json(request: Request) -> Any:
    ctype = request.headers.get("content-type", "")
    if ctype and not ctype.startswith("application/json"):
        raise MeiliError(415, "invalid_content_type", "The Content-Type must be `application/json`")
    raw = await request.body()
    try:
        return json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as e:
        raise MeiliError(400, "malformed_payload", f"The JSON payload is malformed: {e}") from None


GET_PARAMS = {"q", "offset", "limit", "hitsPerPage", "page", "filter", "facets", "attributesToRetrieve",
              "attributesToHighlight", "highlightPreTag", "highlightPostTag", "sort", "showRankingScore",
              "showRankingScoreDetails", "imageId", "intent", "negative", "session"}
LISTS = {"facets", "attributesToRetrieve", "attributesToHighlight", "sort"}
INTS = {"offset", "limit", "hitsPerPage", "page"}


def _from_query(params) -> SearchParams:
    """GET search: Meilisearch's query-string form (lists comma-separated)."""
    d: dict[str, Any] = {}
    for k, v in params.items():
        if k not in GET_PARAMS:
            raise MeiliError(400, "bad_request", f"Unknown parameter `{k}`")
        if k in LISTS:
            d[k] = [x.strip() for x in v.split(",") if x.strip()]
        elif k in INTS:
            try:
                d[k] = int(v)
            except ValueError:
                raise MeiliError(400, f"invalid_search_{_snake(k)}", f"Invalid value in parameter `{k}`: "
                                 f"`{v[:50]}` is not an integer") from None
        elif k in ("showRankingScore", "showRankingScoreDetails"):
            if v not in ("true", "false"):
                raise MeiliError(400, f"invalid_search_{_snake(k)}", f"`{k}` is `true` or `false`")
            d[k] = v == "true"
        else:
            d[k] = v
    try:
        return SearchParams.model_validate(d)
    except ValidationError as e:
        raise _invalid(e) from None


def router(meili: Meili) -> APIRouter:
    r = APIRouter(tags=["meilisearch"], responses={400: {"model": MeiliErrorBody}, 401: {"model": MeiliErrorBody},
                                                  403: {"model": MeiliErrorBody}, 404: {"model": MeiliErrorBody}})
    auth = [Depends(_auth(meili))]

    def engine(request: Request):
        return request.app.state.engine

    @r.get("/version", dependencies=auth)
    def version() -> dict[str, str]:
        """What answers: Shopsearch, with a Meilisearch-compatible API."""
        from shopsearch import __version__

        return {"pkgVersion": __version__, "commitSha": "shopsearch", "commitDate": "", "server": "shopsearch"}

    @r.get("/indexes", dependencies=auth)
    def indexes(eng=Depends(engine)) -> dict[str, Any]:
        return {"results": [meili.index_info(eng)], "offset": 0, "limit": 20, "total": 1}

    @r.get("/indexes/{uid}", dependencies=auth)
    def index(uid: str, eng=Depends(engine)) -> dict[str, Any]:
        meili.check_uid(uid)
        return meili.index_info(eng)

    @r.get("/indexes/{uid}/stats", dependencies=auth)
    def stats(uid: str, eng=Depends(engine)) -> dict[str, Any]:
        meili.check_uid(uid)
        return {"numberOfDocuments": eng.index.count(), "isIndexing": False}

    @r.get("/indexes/{uid}/documents/{doc_id}", dependencies=auth)
    def get_document(uid: str, doc_id: str, fields: str | None = None, eng=Depends(engine)) -> dict[str, Any]:
        meili.check_uid(uid)
        with eng.index.pinned():
            pos = eng.index.position(doc_id)
            if pos is None:
                raise MeiliError(404, "document_not_found", f"Document `{doc_id}` not found.")
            doc = document(eng.index.product(pos))
        return _pick(doc, [f.strip() for f in fields.split(",")] if fields else None)

    @r.get("/indexes/{uid}/search", dependencies=auth, openapi_extra={"parameters": [
        {"name": k, "in": "query", "required": False, "schema": {"type": "string"}} for k in sorted(GET_PARAMS)]})
    async def search_get(uid: str, request: Request, eng=Depends(engine)) -> JSONResponse:
        """Search with the parameters in the query string (lists comma-separated)."""
        meili.check_uid(uid)
        p = _from_query(request.query_params)
        return JSONResponse(await run_in_threadpool(meili.search, eng, p))

    @r.post("/indexes/{uid}/search", dependencies=auth, openapi_extra=_body_schema("SearchParams"))
    async def search_post(uid: str, request: Request, eng=Depends(engine)) -> JSONResponse:
        """Meilisearch's search: q, filter, facets, sort, paging, highlighting; plus a
        photo (image, imageId), hybrid and intent."""
        meili.check_uid(uid)
        try:
            p = SearchParams.model_validate(await _json(request))
        except ValidationError as e:
            raise _invalid(e) from None
        return JSONResponse(await run_in_threadpool(meili.search, eng, p))

    @r.post("/multi-search", dependencies=auth, openapi_extra=_body_schema("MultiSearch"))
    async def multi_search(request: Request, eng=Depends(engine)) -> JSONResponse:
        """Several searches in one request (what InstantSearch sends); not federated."""
        try:
            body = MultiSearch.model_validate(await _json(request))
        except ValidationError as e:
            raise _invalid(e, "multi") from None
        if body.federation is not None:
            raise MeiliError(400, "feature_not_supported", "federated multi-search is not supported by Shopsearch")

        def run() -> dict[str, Any]:
            out = []
            for i, q in enumerate(body.queries):
                try:
                    meili.check_uid(q.indexUid)
                    res = meili.search(eng, SearchParams.model_validate(q.model_dump(
                        exclude={"indexUid", "federationOptions"}, exclude_unset=True)))
                except MeiliError as e:
                    e.message = f"Inside `.queries[{i}]`: {e.message}"
                    raise
                out.append({"indexUid": q.indexUid, **res})
            return {"results": out}

        return JSONResponse(await run_in_threadpool(run))

    return r


def document_openapi(spec: dict[str, Any]) -> None:
    """Add the request schemas that the routes parse by hand (so errors keep
    Meilisearch's shape) and the error shape of these routes to the app's spec."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in (SearchParams, MultiSearch, MeiliErrorBody):
        s = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(s.pop("$defs", {}))
        schemas[model.__name__] = s
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/MeiliErrorBody"}}}}
    for path, ops in spec.get("paths", {}).items():
        if path in ("/version", "/indexes", "/multi-search") or path.startswith("/indexes/"):
            for op in ops.values():
                for code, resp in op.get("responses", {}).items():
                    if code[0] in "45":
                        resp.update(err)
