"""Learned fusion: fit the weights that combine BM25, dense text, dense photo and
attribute matches, per query type, from judgments (qrels) or from logged clicks.

Retrieval does not depend on the weights, only fusion does, and RRF is linear in
them: so each query is retrieved once with unit weights, every candidate's parts
are kept, and the search over weights is pure numpy. Coordinate ascent on a
small grid, k-fold cross-validated across queries so the reported gain is on
queries the weights never saw."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

import numpy as np

from shopsearch.eval.metrics import ndcg
from shopsearch.schema import Query, Weights

log = logging.getLogger(__name__)

PARTS = ("bm25", "text", "image", "attributes")
GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
DEFAULT = {"bm25": 1.0, "text": 1.0, "image": 0.5, "attributes": 1.0}


def query_type(q: Query, intent) -> str:
    """Short attribute query, long descriptive query, keyword query, photo query."""
    if q.images:
        return "photo"
    if q.image_only():
        return "photo_only_text"
    words = len((q.text or "").split())
    named = intent is not None and bool(intent.types or intent.colours or intent.genders)
    if named and words <= 5:
        return "attribute"
    return "descriptive" if words > 5 else "keyword"


@dataclass
class Cached:
    qid: str
    qtype: str
    ids: list[str]
    parts: dict[str, np.ndarray]  # raw, unit-weight contributions per candidate
    gains: dict[str, float] = field(default_factory=dict)


def collect(engine, queries: list[tuple[str, Query]], gains: dict[str, dict[str, float]], depth: int = 1000) -> list[Cached]:
    """Retrieve each judged query once with unit weights and keep every candidate's parts."""
    s = engine.settings
    out = []
    unit = Weights(bm25=1, text=1, image=1, attributes=1)
    for qid, q in queries:
        if qid not in gains:
            continue
        q = q.model_copy(update={"weights": unit, "page_size": depth, "facets": False, "page": 1, "personalize": False})
        res = engine.search(q)
        intent = engine.parse(q.text) if q.text else None
        n_ch = sum(1 for p in ("bm25", "text", "image") if any(p in h.parts for h in res.hits)) or 1
        scale = n_ch / (s.rrf_k + 1)  # undo fusion's normalisation: raw reciprocal ranks
        parts = {p: np.array([h.parts.get(p, 0.0) for h in res.hits]) * (1.0 if p == "attributes" else scale)
                 for p in PARTS}
        parts["words"] = np.array([h.parts.get("words", 0.0) for h in res.hits])  # photos only: borrowed words
        out.append(Cached(qid, query_type(q, intent), [h.id for h in res.hits], parts, gains[qid]))
    return out


def score(c: Cached, w: dict[str, float], rrf_k: int) -> np.ndarray:
    total = sum(w[p] for p in ("bm25", "text", "image") if c.parts[p].any()) / (rrf_k + 1)
    fused = sum(w[p] * c.parts[p] for p in ("bm25", "text", "image"))
    fused = fused / total if total > 0 else fused
    return fused + w["attributes"] * c.parts["attributes"] + c.parts.get("words", 0.0)


def mean_ndcg(cached: list[Cached], w: dict[str, float], rrf_k: int) -> float:
    if not cached:
        return 0.0
    vals = []
    for c in cached:
        order = np.argsort(-score(c, w, rrf_k), kind="stable")
        vals.append(ndcg([c.ids[i] for i in order[:10]], c.gains))
    return float(np.mean(vals))


def defaults(qtype: str, photo_attribute_boost: float = 1.0) -> dict[str, float]:
    """The engine's untuned weights for a query type."""
    return dict(DEFAULT, attributes=photo_attribute_boost) if qtype == "photo_only_text" else dict(DEFAULT)


def fit(cached: list[Cached], rrf_k: int, rounds: int = 3, start: dict | None = None) -> dict[str, float]:
    """Coordinate ascent over the grid, starting from the defaults."""
    w = dict(start or (defaults(cached[0].qtype) if cached and len({c.qtype for c in cached}) == 1 else DEFAULT))
    best = mean_ndcg(cached, w, rrf_k)
    present = [p for p in ("bm25", "text", "image") if any(c.parts[p].any() for c in cached)]
    for _ in range(rounds):
        improved = False
        for p in PARTS:
            for v in GRID:
                trial = dict(w, **{p: v})
                if present and all(trial[x] == 0 for x in present):
                    continue  # at least one retriever must count
                m = mean_ndcg(cached, trial, rrf_k)
                if m > best + 1e-6:
                    best, w, improved = m, trial, True
        if not improved:
            break
    return w


@dataclass
class TuneReport:
    weights: dict[str, dict[str, float]]
    cv: dict[str, dict[str, float]]  # qtype -> {"queries", "default", "tuned"} (held-out nDCG@10)


def tune(cached: list[Cached], rrf_k: int, folds: int = 5, seed: int = 0) -> TuneReport:
    """Per query type: cross-validated gain over the default weights, then weights fit on all."""
    by_type: dict[str, list[Cached]] = {}
    for c in cached:
        by_type.setdefault(c.qtype, []).append(c)
    by_type["all"] = list(cached)
    weights, cv = {}, {}
    for qtype, cs in by_type.items():
        rnd = random.Random(seed)
        order = cs[:]
        rnd.shuffle(order)
        k = max(2, min(folds, len(order)))
        held_default, held_tuned = [], []
        for f in range(k):
            test = order[f::k]
            train = [c for i, c in enumerate(order) if i % k != f]
            w = fit(train, rrf_k)
            held_default += [mean_ndcg([c], defaults(c.qtype), rrf_k) for c in test]
            held_tuned += [mean_ndcg([c], w, rrf_k) for c in test]
        cv[qtype] = {"queries": len(cs), "default": float(np.mean(held_default)), "tuned": float(np.mean(held_tuned))}
        if qtype != "all":
            weights[qtype] = fit(cs, rrf_k)
        log.info("%s: %d queries, held-out nDCG@10 %.4f -> %.4f", qtype, len(cs), cv[qtype]["default"], cv[qtype]["tuned"])
    return TuneReport(weights, cv)


def clicks_to_gains(clicks: list[tuple[str, str, int]], eta: float = 1.0) -> dict[str, dict[str, float]]:
    """Position-bias-corrected relevance from clicks (query, product, 1-based position):
    inverse propensity weighting with examination probability (1/position)^eta."""
    g: dict[str, dict[str, float]] = {}
    for q, pid, pos in clicks:
        w = (max(pos, 1)) ** eta
        g.setdefault(q, {})[pid] = g.setdefault(q, {}).get(pid, 0.0) + w
    for q, d in g.items():
        top = max(d.values())
        g[q] = {p: 3.0 * v / top for p, v in d.items()}  # scale to the qrels' gain range
    return g
