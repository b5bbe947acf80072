"""What the routers share: the Engine and EventStore loaded at start-up (app.state), and
the gates that keep CPU-bound work to the cores (searches, transcriptions)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from fastapi import HTTPException, Request

from shopsearch.events.store import EventStore
from shopsearch.settings import Settings


@dataclass
class Gates:
    """Searches are CPU-bound: running more at once than there are cores only thrashes.
    Transcribing a clip takes all the cores for a few hundred ms: one at a time, so a
    burst of voice queries waits its turn instead of starving every search; past
    `media_queue_max` waiting clips a clip is turned away at once (429)."""

    settings: Settings
    search: threading.BoundedSemaphore = field(init=False)
    media: threading.BoundedSemaphore = field(init=False)
    _waiting: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.search = threading.BoundedSemaphore(max(1, self.settings.search_concurrency))
        self.media = threading.BoundedSemaphore(max(1, self.settings.media_concurrency))

    @contextmanager
    def clip(self) -> Iterator[None]:
        s = self.settings
        with self._lock:
            if self._waiting >= s.media_concurrency + s.media_queue_max:
                raise HTTPException(429, "busy transcribing other clips: try again in a few seconds, or type the query",
                                    headers={"Retry-After": "2"})
            self._waiting += 1
        try:
            with self.media:
                yield
        finally:
            with self._lock:
                self._waiting -= 1


def engine(request: Request):
    return request.app.state.engine


def events(request: Request) -> EventStore:
    return request.app.state.events


def product_position(eng, product_id: str) -> int:
    """The product's row, or 404."""
    pos = eng.index.position(product_id)
    if pos is None:
        raise HTTPException(404, f"no product {product_id!r}")
    return pos
