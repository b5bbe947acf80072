"""The event store: SQLAlchemy over SQLite in the index folder by default (any
SQLAlchemy URL, e.g. PostgreSQL, via `SHOPSEARCH_EVENTS_URL`). Every write commits
before it returns, so an event the API acknowledged survives a restart. Erasing a
session or a user removes their events (and so their profile, which is derived
from them); retention purges old events."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Float, Integer, String, create_engine, delete, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
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


class EventStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url, future=True)
        _Base.metadata.create_all(self.engine)

    @classmethod
    def for_index(cls, location: str | Path, url: str | None = None) -> "EventStore":
        """The store that goes with an index: `url` if given, else SQLite beside it."""
        if url:
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
            row = _Row(ts=e.ts or time.time(), type=e.type, session_id=e.session_id, user_id=e.user_id,
                       product_id=e.product_id, query_id=e.query_id, query_text=e.query_text, position=e.position)
            s.add(row)
            s.flush()
            return int(row.id)

    @staticmethod
    def _ev(r: _Row) -> Event:
        return Event(type=r.type, session_id=r.session_id, product_id=r.product_id, user_id=r.user_id,
                     query_id=r.query_id, query_text=r.query_text, position=r.position, ts=r.ts, id=r.id)

    def for_session(self, session_id: str) -> list[Event]:
        with Session(self.engine) as s:
            return [self._ev(r) for r in s.scalars(select(_Row).where(_Row.session_id == session_id).order_by(_Row.ts))]

    def for_user(self, user_id: str) -> list[Event]:
        with Session(self.engine) as s:
            return [self._ev(r) for r in s.scalars(select(_Row).where(_Row.user_id == user_id).order_by(_Row.ts))]

    def clicks(self) -> list[Event]:
        with Session(self.engine) as s:
            return [self._ev(r) for r in s.scalars(select(_Row).where(_Row.type.in_(("click", "add_to_cart", "purchase"))))]

    def popularity(self) -> dict[str, float]:
        """product id -> weighted engagement count (for score modifiers)."""
        w = {"view": 0.2, "click": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
        out: dict[str, float] = {}
        with Session(self.engine) as s:
            for pid, typ in s.execute(select(_Row.product_id, _Row.type)):
                if pid:
                    out[pid] = out.get(pid, 0.0) + w.get(typ, 0.0)
        return out

    def delete_session(self, session_id: str) -> int:
        with Session(self.engine) as s, s.begin():
            return s.execute(delete(_Row).where(_Row.session_id == session_id)).rowcount

    def delete_user(self, user_id: str) -> int:
        with Session(self.engine) as s, s.begin():
            return s.execute(delete(_Row).where(_Row.user_id == user_id)).rowcount

    def purge_older_than(self, days: float) -> int:
        cutoff = time.time() - days * 86400
        with Session(self.engine) as s, s.begin():
            return s.execute(delete(_Row).where(_Row.ts < cutoff)).rowcount

    def count(self) -> int:
        with Session(self.engine) as s:
            return len(s.scalars(select(_Row.id)).all())
