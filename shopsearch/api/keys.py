"""API keys: search-only keys for the page and the public API, admin keys for the
rest, the operator's admin token as the bootstrap.

Keys live in SQLite (beside the index, or SHOPSEARCH_KEYS_PATH) as sha256 hashes:
the secret is shown once, at creation, and never stored. Each key has its own rate
limit per minute, kept by an in-process token bucket (one server process per index).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from fastapi import APIRouter, Depends, Header, HTTPException
from pydantic import BaseModel, Field

from shopsearch.settings import Settings

log = logging.getLogger(__name__)

Scope = Literal["search", "admin"]
PREFIX = "ssk_"  # lets a leaked secret be recognised (and grepped for) as a Shopsearch key


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class KeyInfo(BaseModel):
    """A key as listed: never its secret."""

    id: str
    name: str
    scope: Scope
    created: float
    revoked: float | None = None
    rate_limit_per_minute: int  # 0: no limit
    prefix: str  # the secret's first characters, to tell keys apart


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scope: Scope = "search"
    rate_limit_per_minute: int | None = Field(default=None, ge=0, le=1_000_000)


class CreatedKey(KeyInfo):
    key: str  # the secret, shown this once


class KeyStore:
    """Hashed keys in one SQLite file. Active keys are cached and re-read at most
    once a second, so a key revoked by the CLI (another process) stops working
    within a second, and a request costs no query."""

    def __init__(self, path: str | Path, default_rate: int = 600) -> None:
        self.path = Path(path)
        self.default_rate = default_rate
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                         "scope TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, created REAL NOT NULL, "
                         "revoked REAL, rate_limit INTEGER NOT NULL)")
        self._active: dict[str, KeyInfo] = {}
        self._issued: set[str] = set()
        self._read_at = -math.inf

    @classmethod
    def for_index(cls, location: str | Path, settings: Settings) -> "KeyStore | None":
        """The store that goes with an index (None for a Milvus index without SHOPSEARCH_KEYS_PATH)."""
        loc = str(location)
        if settings.keys_path:
            path = Path(settings.keys_path)
        elif loc.startswith(("http://", "https://", "tcp://", "grpc://")) or not Path(loc).is_dir():
            return None
        else:
            path = Path(loc) / "keys.sqlite"
        try:
            return cls(path, settings.key_rate_limit_per_minute)
        except sqlite3.Error as e:  # a read-only folder: serve on, with the admin token only
            log.warning("no key store at %s (%s): only the admin token works", path, e)
            return None

    def _info(self, row: tuple) -> KeyInfo:
        return KeyInfo(id=row[0], name=row[1], scope=row[2], prefix=row[3], created=row[4], revoked=row[5],
                       rate_limit_per_minute=row[6])

    def create(self, name: str, scope: Scope = "search", rate_limit_per_minute: int | None = None) -> CreatedKey:
        secret = f"{PREFIX}{scope[0]}_{secrets.token_urlsafe(32)}"
        kid = secrets.token_hex(8)
        rate = self.default_rate if rate_limit_per_minute is None else rate_limit_per_minute
        with self._lock:
            self._db.execute("INSERT INTO api_keys VALUES (?,?,?,?,?,?,NULL,?)",
                             (kid, name, scope, _hash(secret), secret[:10], time.time(), rate))
            self._read_at = -math.inf
        info = self.get(kid)
        assert info is not None
        log.info("created %s key %s (%s)", scope, kid, name)
        return CreatedKey(**info.model_dump(), key=secret)

    def get(self, kid: str) -> KeyInfo | None:
        with self._lock:
            row = self._db.execute("SELECT id, name, scope, prefix, created, revoked, rate_limit FROM api_keys "
                                   "WHERE id=?", (kid,)).fetchone()
        return self._info(row) if row else None

    def list(self) -> list[KeyInfo]:
        with self._lock:
            rows = self._db.execute("SELECT id, name, scope, prefix, created, revoked, rate_limit FROM api_keys "
                                    "ORDER BY created").fetchall()
        return [self._info(r) for r in rows]

    def revoke(self, kid: str) -> bool:
        """True if the key existed and was active."""
        with self._lock:
            n = self._db.execute("UPDATE api_keys SET revoked=? WHERE id=? AND revoked IS NULL",
                                 (time.time(), kid)).rowcount
            self._read_at = -math.inf
        if n:
            log.info("revoked key %s", kid)
        return bool(n)

    def active(self) -> dict[str, KeyInfo]:
        """hash -> key, for the keys not revoked (re-read at most once a second)."""
        now = time.monotonic()
        if now - self._read_at > 1.0:
            with self._lock:
                rows = self._db.execute("SELECT hash, id, name, scope, prefix, created, revoked, rate_limit "
                                        "FROM api_keys WHERE revoked IS NULL").fetchall()
                issued = self._db.execute("SELECT DISTINCT scope FROM api_keys").fetchall()
            self._active = {r[0]: self._info(r[1:]) for r in rows}
            self._issued = {r[0] for r in issued}
            self._read_at = now
        return self._active

    def find(self, secret: str) -> KeyInfo | None:
        return self.active().get(_hash(secret))

    def has_scope(self, scope: Scope) -> bool:
        """A key of this scope is active."""
        return any(k.scope == scope for k in self.active().values())

    def ever_issued(self, scope: Scope) -> bool:
        """A key of this scope was ever created (revoked ones count: revoking a
        leaked key must not open the API)."""
        self.active()
        return scope in self._issued


class RateLimiter:
    """A token bucket per key: `rate` requests a minute, bursts up to a minute's worth."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)

    def take(self, kid: str, rate: int) -> float:
        """0 if the request may go, else the seconds until it could."""
        if rate <= 0:
            return 0.0
        now = time.monotonic()
        per_s = rate / 60.0
        with self._lock:
            tokens, at = self._buckets.get(kid, (float(rate), now))
            tokens = min(float(rate), tokens + (now - at) * per_s)
            if tokens >= 1.0:
                self._buckets[kid] = (tokens - 1.0, now)
                return 0.0
            self._buckets[kid] = (tokens, now)
            return (1.0 - tokens) / per_s


@dataclass
class Denied(Exception):
    """Why a request may not go: rendered by each API in its own error shape."""

    status: int
    code: str  # Meilisearch's error code
    message: str
    retry_after: int | None = None


@dataclass
class Caller:
    """Who is asking: the admin token, a key, or nobody (open search)."""

    kind: Literal["token", "key", "anonymous"]
    key: KeyInfo | None = None


class Guard:
    """Checks Authorization headers against the admin token and the key store."""

    def __init__(self, settings: Settings, store: KeyStore | None) -> None:
        self.settings = settings
        self.store = store
        self.limiter = RateLimiter()

    def search_open(self) -> bool:
        """Search without a key: always ("open"), never ("key"), or until the first
        search key is issued ("auto", the default; revoking it does not reopen)."""
        mode = self.settings.search_auth
        if mode == "open":
            return True
        if mode == "key":
            return False
        return self.store is None or not self.store.ever_issued("search")

    def admin_enabled(self) -> bool:
        return bool(self.settings.admin_token) or (self.store is not None and self.store.has_scope("admin"))

    def check(self, authorization: str | None, scope: Scope) -> Caller:
        """The caller, or Denied. While search is open, a search request with a
        credential that is no key passes as anonymous, as on a Meilisearch without a
        master key (its clients send `Bearer None` when given no key); a real key
        still counts against its rate limit. Everywhere else a wrong one is refused."""
        if scope == "admin" and not self.admin_enabled():
            raise Denied(403, "api_key_required", "admin endpoints are off: set SHOPSEARCH_ADMIN_TOKEN "
                         "(or create an admin key with `shopsearch keys create --scope admin`) to enable them")
        open_ = scope == "search" and self.search_open()
        if not authorization:
            if open_:
                return Caller("anonymous")
            raise Denied(401, "missing_authorization_header",
                         "this endpoint needs a key: send `Authorization: Bearer <key>`")
        if not authorization.startswith("Bearer "):
            if open_:
                return Caller("anonymous")
            raise Denied(401, "invalid_api_key", "the Authorization header must be `Bearer <key>`")
        secret = authorization[len("Bearer "):]
        token = self.settings.admin_token
        if token and hmac.compare_digest(secret.encode("utf-8", "surrogatepass"), token.encode()):
            return Caller("token")
        key = self.store.find(secret) if self.store is not None else None
        if key is None:
            if open_:
                return Caller("anonymous")
            raise Denied(401, "invalid_api_key", "the key is wrong, revoked or unknown")
        if scope == "admin" and key.scope != "admin":
            raise Denied(403, "invalid_api_key", "this is a search-only key: admin endpoints need an admin key")
        wait = self.limiter.take(key.id, key.rate_limit_per_minute)
        if wait > 0:
            raise Denied(429, "too_many_requests", f"this key's limit of {key.rate_limit_per_minute} requests "
                         f"a minute is used up: retry in {math.ceil(wait)} s", retry_after=max(1, math.ceil(wait)))
        return Caller("key", key)


def http_error(d: Denied) -> HTTPException:
    """Denied in the native API's shape: {"detail": ...}."""
    headers = {"WWW-Authenticate": "Bearer"} if d.status == 401 else {}
    if d.retry_after is not None:
        headers["Retry-After"] = str(d.retry_after)
    return HTTPException(d.status, d.message, headers=headers or None)


def dependency(guard: Guard, scope: Scope) -> Callable[..., Caller]:
    """A FastAPI dependency for the native API that admits `scope`."""

    def check(authorization: str | None = Header(default=None)) -> Caller:
        try:
            return guard.check(authorization, scope)
        except Denied as d:
            raise http_error(d) from None

    return check


def admin_router(guard: Guard) -> APIRouter:
    """POST/GET /admin/keys and DELETE /admin/keys/{id}, for the admin token or an admin key."""
    r = APIRouter(dependencies=[Depends(dependency(guard, "admin"))])

    def store() -> KeyStore:
        if guard.store is None:
            raise HTTPException(501, "this index has no key store: set SHOPSEARCH_KEYS_PATH")
        return guard.store

    @r.post("/admin/keys", status_code=201, response_model=CreatedKey)
    def create_key(body: NewKey) -> CreatedKey:
        """A new key; its secret is in this answer and nowhere else, ever."""
        return store().create(body.name, body.scope, body.rate_limit_per_minute)

    @r.get("/admin/keys", response_model=list[KeyInfo])
    def list_keys() -> list[KeyInfo]:
        return store().list()

    @r.delete("/admin/keys/{key_id}", response_model=KeyInfo)
    def revoke_key(key_id: str) -> KeyInfo:
        st = store()
        info = st.get(key_id)
        if info is None:
            raise HTTPException(404, f"no key {key_id!r}")
        st.revoke(key_id)
        return st.get(key_id) or info

    return r
