"""The HTTP app: one Engine and one EventStore per process, loaded at start-up; the
routers (api/routers/: search, products, media, events, admin; the Meilisearch-compatible
API in meili.py, keys in keys.py) only search. Here: start-up, docs, errors, OpenAPI."""

from __future__ import annotations

import html
import logging
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from shopsearch.api import keys, meili
from shopsearch.api.deps import Gates
from shopsearch.api.models import SearchRequest
from shopsearch.api.routers import admin as admin_routes, analytics, events, media, products, search
from shopsearch.events.store import EventStore
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


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

    gates = Gates(s)  # searches and transcriptions, each kept to the cores

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

    # The admin token (the bootstrap) or an admin key for the admin endpoints; search
    # is open until search keys are issued (settings.search_auth), then needs one.
    guard = keys.Guard(s, keys.KeyStore.for_index(index, s))
    admin = keys.dependency(guard, "admin")
    search_key = keys.dependency(guard, "search")
    app.include_router(keys.admin_router(guard))
    meili.install(app, s, gates.search, guard)  # the Meilisearch-compatible API (docs/api.md)
    if s.cors_origins:  # pages on other origins (an InstantSearch page) may call the API
        app.add_middleware(CORSMiddleware, allow_origins=s.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["*"], max_age=600)

    app.include_router(search.router(s, gates, search_key))
    app.include_router(products.router(gates, search_key))
    app.include_router(media.router())
    app.include_router(events.router())
    app.include_router(admin_routes.router(s, admin))
    app.include_router(analytics.router(s, admin))

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
