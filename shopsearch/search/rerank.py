"""Stage 4, rerank: what the query's understanding, the shop and the shopper add to the
fused score, and the final order.

In order: intent boosts and negations (ranking/intent.py), the words a photo borrowed
(words against photos only), score modifiers, a negative query, personalisation (a
bounded re-rank), the sort, and a sure intent's matches before the related rest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopsearch.index.lexical import tokenize
from shopsearch.ranking.fusion import borrowed_words
from shopsearch.ranking.intent import intent_scores
from shopsearch.ranking.modifiers import Modifier, modifier_scores
from shopsearch.ranking.personal import Profile, affinity, bounded_rerank
from shopsearch.ranking.rules import Effects, apply_scores
from shopsearch.search.context import SearchContext
from shopsearch.search.fuse import Pool
from shopsearch.search.plan import Plan


@dataclass
class Ranked:
    pool: Pool  # in the final order
    matched: np.ndarray | None  # per candidate, in the final order: does it match the query
    profile: Profile | None


def rerank(ctx: SearchContext, plan: Plan, p: Pool, matched: np.ndarray | None, by_intent: bool,
           effects: Effects | None = None) -> Ranked:
    s, q, intent = ctx.settings, plan.query, plan.intent
    if intent is not None and len(p.pos):
        if plan.image_only and not intent.brands:
            intent.brands = ctx.brands(q.text)
        boost, penalty = intent_scores(ctx, intent, p.pos, plan.image_only, plan.attribute_weight, plan.loglinear)
        if boost is not None:
            p.add("attributes", boost)
        if penalty is not None:
            p.add("negation", -penalty)
    if plan.loglinear and q.understand and s.photo_words > 0 and len(p.pos):
        borrowed = borrowed_terms(ctx, plan.text, p.pos)
        if borrowed is not None:
            p.add("words", borrowed)
    mods = ctx.modifiers() if q.modifiers is None else [Modifier.parse(d) for d in q.modifiers]
    if mods and len(p.pos) and q.sort == "relevance":
        pop = ctx.events.popularity(s.event_weights) if (ctx.events is not None and any(m.field == "popularity" for m in mods)) else None
        for name, contrib in modifier_scores(mods, ctx.index, p.pos, pop).items():
            p.add(name, contrib)
    if effects is not None and len(p.pos):  # the operator's attribute boosts and burials
        for name, contrib in apply_scores(effects, p.pos, ctx.lower_column, ctx.index.position).items():
            p.add(name, contrib)
    if q.negative and len(p.pos):
        p.add("negative", -negative_penalty(ctx, q.negative, p.pos, plan.image_only))
    profile, order = None, None
    if q.session and q.personalize and ctx.events is not None and len(p.pos) and q.sort == "relevance":
        profile = ctx.profile(q.session)
        if profile is not None and not profile.is_empty():
            boost = s.personal_boost * affinity(profile, ctx.index, p.pos)
            order = bounded_rerank(p.score, p.score + boost, s.personal_max_drop)
            p.add("personal", boost)
        else:
            profile = None
    if order is None:
        order = sort_order(ctx, q.sort, p.pos, p.score)
    if matched is not None and by_intent:
        order = matches_first(order, matched, p.parts.get("visual_sim") if intent is not None and intent.photo else None)
    ranked = Pool(p.pos[order], p.score[order], {k: v[order] for k, v in p.parts.items()})
    matched = None if matched is None else matched[order]
    if effects is not None and effects.pins:
        ranked, matched = pin(ctx, ranked, matched, effects)
    return Ranked(ranked, matched, profile)


def pin(ctx: SearchContext, p: Pool, matched: np.ndarray | None, effects: Effects) -> tuple[Pool, np.ndarray | None]:
    """Pinned products at their positions (brought into the pool if no retriever found
    them; a hidden product stays hidden), counted as matches; the rest keep their order."""
    ix = ctx.index
    wanted: dict[int, int] = {}  # row -> position (1-based), the first rule's pin winning
    for pid, position, _ in sorted(effects.pins, key=lambda x: x[1]):
        row = ix.position(pid)
        if row is not None and pid not in effects.hide and row not in wanted and position not in wanted.values():
            wanted[row] = position
    if not wanted:
        return p, matched
    rows = np.array(list(wanted), np.int64)
    missing = rows[~np.isin(rows, p.pos)]
    if len(missing):
        p = Pool(np.concatenate([p.pos, missing]), np.concatenate([p.score, np.zeros(len(missing))]),
                 {k: np.concatenate([v, np.zeros(len(missing))]) for k, v in p.parts.items()})
        matched = None if matched is None else np.concatenate([matched, np.ones(len(missing), bool)])
    is_pinned = np.isin(p.pos, rows)
    rest = np.flatnonzero(~is_pinned)
    order = list(rest)
    for row, position in sorted(wanted.items(), key=lambda kv: kv[1]):
        order.insert(min(position - 1, len(order)), int(np.flatnonzero(p.pos == row)[0]))
    order = np.array(order, np.int64)
    p = Pool(p.pos[order], p.score[order], {k: v[order] for k, v in p.parts.items()})
    pinned = np.zeros(len(p.pos))
    for row, position in wanted.items():
        pinned[p.pos == row] = position
    p.parts["pinned"] = pinned
    if matched is not None:
        matched = matched[order] | (p.parts["pinned"] > 0)
    return p, matched


def matches_first(order: np.ndarray, matched: np.ndarray, look: np.ndarray | None) -> np.ndarray:
    """What matches every sure attribute first, the rest after, each in `order`; with a
    photo (`look`, its visual similarities), the matches by how much they look like it."""
    if look is None:
        return order[np.argsort(~matched[order], kind="stable")]
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    key = np.where(matched, -look, rank)
    return np.lexsort((rank, key, ~matched))


def sort_order(ctx: SearchContext, sort: str, pos: np.ndarray, score: np.ndarray) -> np.ndarray:
    if sort == "relevance" or len(pos) == 0:
        return np.lexsort((pos, -score))
    if sort in ("price_asc", "price_desc"):
        price = ctx.index.column("price")[pos]
        key = np.where(np.isfinite(price), price if sort == "price_asc" else -price, np.inf)
        return np.lexsort((-score, key))
    titles = ctx.index.column("title")[pos]
    return np.argsort(np.array([t.lower() for t in titles]), kind="stable")


def borrowed_terms(ctx: SearchContext, text: str, pos: np.ndarray) -> np.ndarray | None:
    """T x photo_words x the weight of the query's words among those each photo borrowed
    from its nearest training photos' titles (visual.Words); None if no photo has any."""
    terms = set(tokenize(text))
    if not terms:
        return None
    got = borrowed_words(terms, (ctx.index.predicted(int(x)).get("words", {}) for x in pos), ctx.settings)
    return got if got.any() else None


def negative_penalty(ctx: SearchContext, negative: str, pos: np.ndarray, image_only: bool) -> np.ndarray:
    """"Not like this": similarity to the negative text, and its words in the product's text."""
    s, ix = ctx.settings, ctx.index
    nv = ctx.encoder.encode_text([negative])[0]
    sim = ix.dense_scores(nv, "image" if image_only else "text", pos)
    pen = s.negative_penalty * np.clip(sim, 0, 1)
    if not image_only:
        hit = set(int(x) for x in ix.bm25(tokenize(negative), len(ix.ids())).pos)
        pen = pen + s.negated_attribute_penalty * s.attribute_boost * np.fromiter((int(x) in hit for x in pos), bool, len(pos))
    return pen
