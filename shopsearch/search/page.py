"""Stage 6, page: the shopper's page of hits, the total that matches and the related
rest, the facets, what the query was understood as."""

from __future__ import annotations

import time

from shopsearch.ranking.rules import Effects
from shopsearch.schema import Hit, SearchResult
from shopsearch.search.context import SearchContext
from shopsearch.search.facets import count
from shopsearch.search.plan import Plan
from shopsearch.search.rerank import Ranked


def hit(ctx: SearchContext, pos: int, score: float, parts: dict[str, float]) -> Hit:
    p = ctx.index.product(pos)
    return Hit(id=p.id, title=p.title, score=round(score, 6), parts=parts, type=p.type, colour=p.colour,
               gender=p.gender, brand=p.brand, price=p.price, attrs=p.attrs, has_image=bool(p.image))


def page(ctx: SearchContext, plan: Plan, r: Ranked, effects: Effects | None = None) -> SearchResult:
    q, p = plan.query, r.pool
    total = len(p.pos) if r.matched is None else int(r.matched.sum())
    facets = count(ctx, p.pos if r.matched is None else p.pos[r.matched]) if q.facets else {}
    start = (q.page - 1) * q.page_size
    hits = [hit(ctx, int(p.pos[i]), float(p.score[i]), {k: round(float(v[i]), 6) for k, v in p.parts.items() if v[i] != 0})
            for i in range(start, min(start + q.page_size, len(p.pos)))]
    if effects is not None:
        for h in hits:  # the why panel: "pinned by rule R", "boosted by rule R"
            h.rules = [r for pid, _, r in effects.pins if pid == h.id and "pinned" in h.parts]
            h.rules += [k[5:] for k in h.parts if k.startswith("rule:")]
    return SearchResult(
        hits=hits, total=total, related=len(p.pos) - total, page=q.page, page_size=q.page_size, facets=facets,
        intent=plan.intent.to_dict() if plan.intent is not None else None,
        profile=r.profile.to_dict() if r.profile is not None else None,
        took_ms=round((time.perf_counter() - plan.started) * 1000, 2), rules=effects.rules if effects else [],
    )
