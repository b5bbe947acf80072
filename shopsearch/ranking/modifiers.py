"""Score modifiers: business signals (popularity, rating, stock, price) added to
the relevance score, each min-max normalised over the candidates and bounded by
its weight, so a modifier can break ties and lift good sellers but not bury
relevance. A negative weight prefers low values (e.g. price)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TRANSFORMS = {"linear": lambda x: x, "log1p": lambda x: math.log1p(max(x, 0.0)), "bool": lambda x: 1.0 if x > 0 else 0.0}


@dataclass
class Modifier:
    field: str
    weight: float
    transform: str = "linear"

    @classmethod
    def parse(cls, d: dict) -> "Modifier":
        if not isinstance(d, dict) or not d.get("field"):
            raise ValueError('a score modifier needs a "field" (rating, price, popularity, ...)')
        try:
            weight = float(d.get("weight", 0.1))
        except (TypeError, ValueError):
            raise ValueError(f"a score modifier's weight must be a number, not {d.get('weight')!r}") from None
        m = cls(str(d["field"]), weight, str(d.get("transform", "linear")))
        if m.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {m.transform!r} (one of {', '.join(TRANSFORMS)})")
        return m


def _number(v) -> float | None:
    if v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def modifier_scores(mods: list[Modifier], index, pos: np.ndarray, popularity: dict[str, float] | None) -> dict[str, np.ndarray]:
    """part name -> bounded contribution per candidate."""
    out: dict[str, np.ndarray] = {}
    if not len(pos):
        return out
    ids = None
    for m in mods:
        f = TRANSFORMS[m.transform]
        if m.field == "popularity":
            ids = ids if ids is not None else [index.ids()[int(p)] for p in pos]
            raw = [(popularity or {}).get(i) for i in ids]
        elif m.field == "price":
            raw = list(index.column("price")[pos])
        else:
            raw = list(index.column(m.field)[pos])
        vals = np.array([f(x) if (x := _number(r)) is not None else np.nan for r in raw], float)
        if np.all(np.isnan(vals)):
            continue
        lo, hi = np.nanmin(vals), np.nanmax(vals)
        norm = np.zeros(len(pos)) if hi <= lo else (vals - lo) / (hi - lo)
        norm = np.nan_to_num(norm, nan=0.0)
        contrib = m.weight * norm if m.weight >= 0 else -m.weight * (1 - norm) * ~np.isnan(vals)
        out[f"mod_{m.field}"] = contrib
    return out
