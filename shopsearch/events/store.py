"""The event store: SQLAlchemy over SQLite in the index folder by default (any
SQLAlchemy URL, e.g. PostgreSQL, via `SHOPSEARCH_EVENTS_URL`). Every write commits
before it returns, so an event the API acknowledged survives a restart. Erasing a
session or a user removes their events (and so their profile, which is derived
from them); retention purges old events."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Float, Integer, String, create_engine, delete, event, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
POPULARITY_TTL_S = 5.0  # popularity is read on every search that uses it; recount at most this often
log = logging.getLogger(__name__)


class _Base(DeclarativeBase):
    pass


class EventRow(_Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    type: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[str] = mapped_column(String(128), index=True)
    user_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    product_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    query_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    query_text: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SearchRow(_Base):
    """One logged search: what analytics count, joined to clicks by query id."""

    __tablename__ = "searches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    query: Mapped[str] = mapped_column(String(1024), index=True)
    modality: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    session_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    query_id: Mapped[str] = mapped_column(String(128), index=True)
    experiment: Mapped[str | None] = mapped_column(String(100), index=True, nullable=True)
    arm: Mapped[str | None] = mapped_column(String(100), nullable=True)


MODALITIES = ("text", "photo", "voice", "video", "browse")


def normalise_query(text: str | None) -> str:
    """The form analytics group by: lower case, single spaces ("Black  Watch" = "black watch")."""
    return " ".join((text or "").lower().split())[:1024]


@dataclass
class SearchLog:
    query_id: str
    query: str
    modality: str
    total: int
    latency_ms: float
    session_id: str | None = None
    experiment: str | None = None
    arm: str | None = None
    ts: float = 0.0


@dataclass
class Event:
    type: str
    session_id: str
    product_id: str | None = None
    user_id: str | None = None
    query_id: str | None = None
    query_text: str | None = None
    position: int | None = None
    ts: float = 0.0
    id: int | None = None


def _sqlite_pragmas(conn, _record) -> None:
    """WAL: searches reading a session's events never wait on a click being written;
    synchronous=FULL keeps every committed event on disk."""
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


class EventStore:
    def __init__(self, url: str) -> None:
        self.url = url
        sqlite = url.startswith("sqlite")
        # SQLite: writers from several request threads wait for each other instead of failing
        self.engine = create_engine(url, connect_args={"timeout": 30} if sqlite else {})
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        _Base.metadata.create_all(self.engine)
        self._pop: tuple[float, dict[str, float], dict[str, float]] | None = None

    @classmethod
    def for_index(cls, location: str | Path, url: str | None = None) -> "EventStore":
        """The store that goes with an index: `url` if given, else SQLite beside it."""
        if url:
            log.info("events in %s", url.split("@")[-1])  # no credentials in the log
            return cls(url)
        loc = str(location)
        if loc.startswith(("http://", "https://")):
            raise ValueError("a Milvus-backed index needs SHOPSEARCH_EVENTS_URL for its event store")
        return cls(f"sqlite:///{Path(loc).resolve() / 'events.sqlite'}")

    def record(self, e: Event) -> int:
        if e.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {e.type!r} (one of {', '.join(EVENT_TYPES)})")
        if not e.session_id:
            raise ValueError("an event needs a session id")
        with Session(self.engine) as s, s.begin():
            row = EventRow(ts=e.ts or time.time(), type=e.type, session_id=e.session_id, user_id=e.user_id,
                       product_id=e.product_id, query_id=e.query_id, query_text=e.query_text, position=e.position)
            s.add(row)
            s.flush()
            rid = int(row.id)
        self._pop = None
        return rid

    @staticmethod
    def _ev(r: EventRow) -> Event:
        return Event(type=r.type, session_id=r.session_id, product_id=r.product_id, user_id=r.user_id,
                     query_id=r.query_id, query_text=r.query_text, position=r.position, ts=r.ts, id=r.id)

    def for_session(self, session_id: str) -> list[Event]:
        with Session(self.engine) as s:
            return [self._ev(r) for r in s.scalars(select(EventRow).where(EventRow.session_id == session_id).order_by(EventRow.ts))]

    def for_user(self, user_id: str) -> list[Event]:
        with Session(self.engine) as s:
            return [self._ev(r) for r in s.scalars(select(EventRow).where(EventRow.user_id == user_id).order_by(EventRow.ts))]

    def clicks(self) -> list[Event]:
        with Session(self.engine) as s:
            return [self._ev(r) for r in s.scalars(select(EventRow).where(EventRow.type.in_(("click", "add_to_cart", "purchase"))))]

    def popularity(self, weights: dict[str, float] | None = None) -> dict[str, float]:
        """product id -> weighted engagement count (for score modifiers); `weights` per event
        type (Settings.event_weights, as profiles use)."""
        w = weights or {"view": 0.3, "click": 1.0, "add_to_cart": 2.0, "purchase": 3.0}
        cached = self._pop
        if cached is not None and cached[2] == w and time.monotonic() - cached[0] < POPULARITY_TTL_S:
            return cached[1]
        out: dict[str, float] = {}
        with Session(self.engine) as s:
            q = select(EventRow.product_id, EventRow.type, func.count()).where(EventRow.product_id.is_not(None), EventRow.product_id != "")
            for pid, typ, n in s.execute(q.group_by(EventRow.product_id, EventRow.type)):
                out[pid] = out.get(pid, 0.0) + w.get(typ, 0.0) * n
        self._pop = (time.monotonic(), out, dict(w))
        return out

    def log_search(self, e: SearchLog) -> None:
        """One insert per search (about a millisecond on SQLite's WAL; bench in docs)."""
        if e.modality not in MODALITIES:
            raise ValueError(f"unknown modality {e.modality!r} (one of {', '.join(MODALITIES)})")
        with Session(self.engine) as s, s.begin():
            s.add(SearchRow(ts=e.ts or time.time(), query=normalise_query(e.query), modality=e.modality,
                            total=int(e.total), latency_ms=float(e.latency_ms), session_id=e.session_id,
                            query_id=e.query_id, experiment=e.experiment, arm=e.arm))

    def searches_for_session(self, session_id: str) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(SearchRow)
                                .where(SearchRow.session_id == session_id)) or 0)

    def _delete(self, where, searches=None) -> int:
        with Session(self.engine) as s, s.begin():
            n = s.execute(delete(EventRow).where(where)).rowcount
            if searches is not None:  # erased with them, not counted: "deleted" has always meant events
                s.execute(delete(SearchRow).where(searches))
        self._pop = None
        return int(n)

    def delete_session(self, session_id: str) -> int:
        """Erase a session's events (its profile goes with them) and its logged searches."""
        return self._delete(EventRow.session_id == session_id, SearchRow.session_id == session_id)

    def delete_user(self, user_id: str) -> int:
        """Erase everything recorded under a user id, across sessions."""
        return self._delete(EventRow.user_id == user_id)

    def purge_older_than(self, days: float) -> int:
        """Retention: drop events older than `days`."""
        cut = time.time() - days * 86400
        return self._delete(EventRow.ts < cut, SearchRow.ts < cut)

    def count(self) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(EventRow)) or 0)
