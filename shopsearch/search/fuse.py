"""Stage 3, fuse: one candidate pool from the retrievers, with a score and the parts it
is made of (and each retriever's raw similarity, for the why panel). A query with no
text and no photo browses the filtered catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopsearch.ranking.fusion import fuse
from shopsearch.ranking.rules import Effects
from shopsearch.search.context import SearchContext
from shopsearch.search.plan import Plan
from shopsearch.search.retrieve import Retrieved


@dataclass
class Pool:
    pos: np.ndarray  # candidate rows, sorted
    score: np.ndarray
    parts: dict[str, np.ndarray]  # part -> contribution (and "<retriever>_sim", "bm25_score" raw signals)

    def add(self, name: str, contribution: np.ndarray) -> None:
        self.parts[name] = contribution
        self.score = self.score + contribution


def pool(ctx: SearchContext, plan: Plan, got: Retrieved) -> Pool:
    ix, s, channels = ctx.index, ctx.settings, got.channels
    if not channels:  # browse: filters only
        pos = np.arange(len(ix.ids())) if plan.mask is None else np.where(plan.mask)[0]
        return Pool(pos, np.zeros(len(pos)), {})
    pos0 = np.unique(np.concatenate([c.pos for c in channels.values()]))
    exact = {k: ix.dense_scores(vec, field, pos0) for k, (vec, field) in got.vectors.items() if k in channels}
    method = plan.query.fusion or (s.photo_fusion if plan.has_photo else s.fusion)
    pos, score, parts = fuse(channels, got.weights, method, s.rrf_k, exact)
    if plan.loglinear and "image" in exact:  # cosines, not ranks: the evidence added later sums with them
        score = exact["image"].astype(np.float64)
        parts = {"image": score.copy()}
    for k, e in exact.items():  # raw similarities for the "why" panel
        parts[f"{k}_sim"] = e
    if "bm25" in channels:
        raw = np.zeros(len(pos))
        raw[np.searchsorted(pos, channels["bm25"].pos)] = channels["bm25"].scores  # pos: the sorted union
        parts["bm25_score"] = raw
    return Pool(pos, score, parts)


def matched(ctx: SearchContext, plan: Plan, p: Pool) -> tuple[np.ndarray | None, bool]:
    """Which candidates match the query, for the total and the facets (the rest of the
    pool stays reachable after them as "also related"). With a sure intent: the products
    that have it, listed first (True). Otherwise a relevance cut per retriever: text
    similarity or BM25 near the best (settings count_*). (None, False) keeps the whole
    pool: photo queries without words, browsing."""
    s, q = ctx.settings, plan.query
    if not len(p.pos) or plan.image_only or not q.text:
        return None, False
    if plan.sure is not None and plan.sure[p.pos].any():
        return plan.sure[p.pos], True
    if plan.has_photo or not ({"text_sim", "bm25_score"} & set(p.parts)):
        return None, False
    m = np.zeros(len(p.pos), bool)
    if "text_sim" in p.parts:
        m |= p.parts["text_sim"] >= s.count_text_sim
    if "bm25_score" in p.parts and p.parts["bm25_score"].max() > 0:
        m |= p.parts["bm25_score"] >= s.count_bm25_share * p.parts["bm25_score"].max()
    return m, False  # nothing passes: 0 results, the pool still reachable as related


def rules_for(ctx: SearchContext, plan: Plan) -> Effects | None:
    """What the operator's rules that match this query do (None when none match)."""
    book = ctx.rules()
    if not book or not plan.query.rules:
        return None
    intent, q = plan.intent, plan.query
    photo_types: list[str] = []
    if plan.has_photo:
        if intent is not None and intent.photo:
            photo_types = list(intent.types)
        elif any(k[0] == "photo" for k in book.by_value):  # a photo alone: its nearest products' type
            near = ctx.index.dense(plan.photo[1], "visual", ctx.settings.photo_type_neighbours)
            types = [ctx.index.column("type")[int(x)] for x in near.pos]
            photo_types = [max(set(types), key=types.count)] if types else []
    effects = book.match(q.text, intent, q.filters, photo_types)
    return effects if effects.rules else None


def without_hidden(ctx: SearchContext, p: Pool, effects: Effects | None) -> Pool:
    """The pool without the products a rule hides (so totals and facets never count them)."""
    if effects is None or not effects.hide or not len(p.pos):
        return p
    ids = ctx.index.ids()
    keep = np.fromiter((ids[int(x)] not in effects.hide for x in p.pos), bool, len(p.pos))
    return Pool(p.pos[keep], p.score[keep], {k: v[keep] for k, v in p.parts.items()})
