"""Stage 5, facets: value counts over the products that match (type, colour, gender,
brand, price buckets)."""

from __future__ import annotations

import numpy as np

from shopsearch.schema import FACET_FIELDS
from shopsearch.search.context import SearchContext

PRICE_BUCKETS = [(0, 25), (25, 50), (50, 100), (100, 250), (250, 500), (500, None)]


def count(ctx: SearchContext, pos: np.ndarray, top: int = 30) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    if len(pos) == 0:
        return {f: {} for f in FACET_FIELDS}
    for name in FACET_FIELDS:
        vals, counts = np.unique(ctx.index.column(name)[pos].astype(str), return_counts=True)
        order = np.argsort(-counts, kind="stable")
        d = {str(vals[i]): int(counts[i]) for i in order if vals[i]}
        if d:
            out[name] = dict(list(d.items())[:top])
    price = ctx.index.column("price")[pos]
    known = price[np.isfinite(price)]
    if len(known):
        buckets = {}
        for lo, hi in PRICE_BUCKETS:
            n = int(((known >= lo) & ((known < hi) if hi is not None else True)).sum())
            if n:
                buckets[f"{lo}-{hi}" if hi is not None else f"{lo}+"] = n
        out["price"] = buckets
    return out


def keep_picked(counts: dict[str, int], picked: list[str]) -> dict[str, int]:
    """A value the shopper picked stays listed, even at zero."""
    listed = {k.lower() for k in counts}
    for v in picked:
        if v.lower() not in listed:
            counts[v] = 0
    return counts
