"""The search engine: one object that holds the index and the encoders (loaded once)
and answers `Query` objects. CLI, Python API and HTTP API all call it.

A query flows one way through the stages, one module each:
plan (intent, filters, weights) -> retrieve -> fuse (one pool) -> rerank (boosts,
modifiers, personalisation, order) -> facets -> page."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsearch.encoders.base import ImageLike
from shopsearch.index.base import Index, open_index
from shopsearch.query.parser import Intent
from shopsearch.schema import FACET_FIELDS, Query, SearchResult
from shopsearch.search.context import SearchContext
from shopsearch.search.facets import count, keep_picked
from shopsearch.search.fuse import matched, pool, rules_for, without_hidden
from shopsearch.search.page import page
from shopsearch.search.plan import Plan, Vectors, embed_photos, make_plan, photo_and_words, tuned_weights
from shopsearch.search.rerank import rerank
from shopsearch.search.retrieve import retrieve
from shopsearch.settings import Settings, get_settings

log = logging.getLogger(__name__)


class Engine:
    """Open once, search many times."""

    def __init__(self, index: str | Path | Index, settings: Settings | None = None, encoder=None,
                 create: bool = False, events=None) -> None:
        self.settings = settings or get_settings()
        self.index = index if isinstance(index, Index) else open_index(index, create=create, settings=self.settings)
        self.ctx = SearchContext(self.index, self.settings, encoder, events)

    # -- heavy objects, loaded once ------------------------------------------------
    @property
    def encoder(self):
        return self.ctx.encoder

    @property
    def events(self):
        return self.ctx.events

    @events.setter
    def events(self, store) -> None:  # an event store with for_session(id); enables personalisation
        self.ctx.events = store

    @property
    def vocab(self):
        return self.ctx.vocab

    @property
    def matcher(self):
        return self.ctx.matcher

    def warm_up(self) -> None:
        """Load models, the index snapshot and the understanding before the first request."""
        self.encoder.encode_text(["warm up"])
        self.index.ids()
        _ = self.matcher

    def parse(self, text: str) -> Intent:
        return self.ctx.parse(text)

    def tuned_weights(self, q: Query, intent: Intent | None) -> dict[str, float]:
        """The fusion weights `shopsearch tune` learned for this kind of query, if any."""
        return tuned_weights(self.ctx, q, intent)

    def embed_images(self, images: Sequence[ImageLike]) -> Vectors:
        return embed_photos(self.ctx, list(images))

    # -- queries -------------------------------------------------------------------
    def search(self, q: Query, image_vectors: Vectors | None = None, intent: Intent | None = None,
               text_vector: np.ndarray | None = None) -> SearchResult:
        """`image_vectors`, `intent` and `text_vector` let callers (more like this) pass what
        they already know. The whole search reads one view of the index, even while an
        ingest writes."""
        started = time.perf_counter()
        with self.index.pinned():
            if q.images and q.text and q.understand and not q.image_only() and image_vectors is None:
                # a photo and words: one intent, the photo's type and look changed by what the words ask
                image_vectors, intent = photo_and_words(self.ctx, q, intent)
            plan = make_plan(self.ctx, q, image_vectors, intent, text_vector, started)
            effects = rules_for(self.ctx, plan)
            p = without_hidden(self.ctx, pool(self.ctx, plan, retrieve(self.ctx, plan)), effects)
            m, by_intent = matched(self.ctx, plan, p)
            res = page(self.ctx, plan, rerank(self.ctx, plan, p, m, by_intent, effects), effects)
            res.no_match = res.total == 0 and bool(q.text) and not plan.image_only and not plan.has_photo
            if q.facets:
                self._disjunctive_facets(plan, res)
            return res

    def _matching(self, plan: Plan) -> np.ndarray:
        """The rows that match a plan (no ranking): for facet counts."""
        p = without_hidden(self.ctx, pool(self.ctx, plan, retrieve(self.ctx, plan)), rules_for(self.ctx, plan))
        m, _ = matched(self.ctx, plan, p)
        return p.pos if m is None else p.pos[m]

    def _disjunctive_facets(self, plan: Plan, res: SearchResult) -> None:
        """A facet field the shopper has filtered on counts its values as if that one
        filter were off (and every other on), so "Black" being picked still shows
        "Navy Blue (12)" to add: multi-select, as shops do it."""
        q = plan.query
        for name in FACET_FIELDS:
            picked = getattr(q.filters, name)
            if not picked:
                continue
            others = q.model_copy(update={"filters": q.filters.model_copy(update={name: []}), "session": None})
            other = make_plan(self.ctx, others, plan.photo, plan.intent, plan.text_vector)
            res.facets[name] = keep_picked(count(self.ctx, self._matching(other)).get(name, {}), picked)

    def similar(self, product_id: str, page_size: int = 20, page: int = 1) -> SearchResult:
        """More like this: the product's own photo (visual and aligned vectors) and its type,
        colour family and gender; a product without a photo, its caption vector."""
        with self.index.pinned():
            pos = self.index.position(product_id)
            if pos is None:
                raise KeyError(product_id)
            v = self.index.vector(pos, "visual")
            a = self.index.vector(pos, "image")
            q = Query(page_size=page_size + 1, page=page)
            if v is None:
                res = self.search(q, text_vector=self.index.vector(pos, "text"))
            else:
                p = self.index.product(pos)
                words = " ".join(x for x in (p.gender, p.colour, p.type) if x)
                res = self.search(q, image_vectors=(a, v), intent=self.parse(words) if (p.type or p.colour) else None)
        res.hits = [h for h in res.hits if h.id != product_id][:page_size]
        return res

    def stats(self) -> dict:
        ix = self.index
        return {
            "products": ix.count(),
            "with_image": int(getattr(ix, "has_vector", lambda f: np.zeros(0))("image").sum()) if ix.count() else 0,
            "schema_version": ix.get_meta("schema_version"),
            "encoder": ix.get_meta("encoder"),
            "text_encoder": ix.get_meta("text_encoder"),
            "image_encoder": ix.get_meta("image_encoder"),
            "backend": type(ix).__name__,
            "location": ix.location,
        }
