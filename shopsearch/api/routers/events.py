"""Shopper events in (views, clicks, carts, purchases) and erasure of a session or user."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from shopsearch.api.deps import engine, events
from shopsearch.api.models import EventIn
from shopsearch.events.store import Event, EventStore


def router() -> APIRouter:
    r = APIRouter()

    @r.post("/events", status_code=201)
    def record(ev: EventIn, store: EventStore = Depends(events), eng=Depends(engine)) -> dict:
        if ev.product_id is not None and eng.index.position(ev.product_id) is None:
            raise HTTPException(404, f"no product {ev.product_id!r}")
        return {"id": store.record(Event(**ev.model_dump()))}

    @r.delete("/sessions/{session_id}")
    def erase_session(session_id: str, store: EventStore = Depends(events)) -> dict:
        return {"deleted": store.delete_session(session_id)}

    @r.delete("/users/{user_id}")
    def erase_user(user_id: str, store: EventStore = Depends(events)) -> dict:
        return {"deleted": store.delete_user(user_id)}

    return r
