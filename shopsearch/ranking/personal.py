"""Session personalisation: a shopper's profile from what they clicked or added,
and a bounded re-rank.

The profile is a decayed mean of the text and photo vectors of the products the
shopper engaged with (newer and stronger signals weigh more) plus their preferred
attributes. It adds at most `bound` to a candidate's fused score, and the re-rank
never moves a result more than `max_drop` places down, so personalisation can
reorder but never hide what the query itself ranked high."""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from shopsearch.encoders.base import l2n

# How much each kind of event says about taste (the default of Settings.event_weights).
EVENT_WEIGHTS = {"view": 0.3, "click": 1.0, "add_to_cart": 2.0, "purchase": 3.0}


@dataclass
class Profile:
    text: np.ndarray | None = None
    image: np.ndarray | None = None
    attributes: dict[str, dict[str, float]] = field(default_factory=dict)  # field -> value -> share
    events: int = 0

    def is_empty(self) -> bool:
        return self.events == 0

    def to_dict(self) -> dict:
        return {"events": self.events,
                "attributes": {k: dict(sorted(v.items(), key=lambda x: -x[1])[:3]) for k, v in self.attributes.items()}}


def build_profile(events: Iterable[tuple[float, str, str]], index, half_life_s: float = 1800.0,
                  now: float | None = None, fields: tuple[str, ...] = ("type", "colour", "gender", "usage"),
                  weights: dict[str, float] | None = None) -> Profile:
    """events: (timestamp, event type, product id), any order."""
    now = now or time.time()
    weights = EVENT_WEIGHTS if weights is None else weights
    tv, iv, n = None, None, 0
    wt_t = wt_i = 0.0
    attrs: dict[str, dict[str, float]] = {f: {} for f in fields}
    for ts, kind, pid in events:
        w = weights.get(kind, 0.0) * math.pow(0.5, max(0.0, now - ts) / half_life_s)
        pos = index.position(pid) if pid else None
        if w <= 0 or pos is None:
            continue
        n += 1
        t = index.vector(pos, "text")
        if t is not None:
            tv = w * t if tv is None else tv + w * t
            wt_t += w
        im = index.vector(pos, "image")
        if im is not None:
            iv = w * im if iv is None else iv + w * im
            wt_i += w
        p = index.product(pos)
        for f in fields:
            v = p.field(f) if f in ("type", "colour", "gender") else p.attrs.get(f)
            if v:
                attrs[f][v] = attrs[f].get(v, 0.0) + w
    for f, d in attrs.items():
        tot = sum(d.values())
        attrs[f] = {k: v / tot for k, v in d.items()} if tot else {}
    return Profile(
        text=l2n(tv[None])[0] if tv is not None else None,
        image=l2n(iv[None])[0] if iv is not None else None,
        attributes={k: v for k, v in attrs.items() if v}, events=n,
    )


def affinity(profile: Profile, index, pos: np.ndarray) -> np.ndarray:
    """How well each candidate fits the profile, in [0, 1]."""
    # Vectors say "looks and reads like what they liked"; attribute shares say it
    # sharper (a colour or a type they keep choosing), so they weigh more.
    parts, weights = [], []
    if profile.text is not None:
        parts.append(np.clip(index.dense_scores(profile.text, "text", pos), 0, 1))
        weights.append(0.15)
    if profile.image is not None:
        parts.append(np.clip(index.dense_scores(profile.image, "image", pos), 0, 1))
        weights.append(0.15)
    attrs = list(profile.attributes.items())
    for name, prefs in attrs:
        col = index.column(name)[pos]
        parts.append(np.fromiter((prefs.get(c, 0.0) for c in col), float, len(pos)))
        weights.append(0.7 / len(attrs))
    if not parts:
        return np.zeros(len(pos))
    return np.average(np.stack(parts), axis=0, weights=weights)


def bounded_rerank(base_order_scores: np.ndarray, new_scores: np.ndarray, max_drop: int) -> np.ndarray:
    """Order by `new_scores`, except that the item at original rank r (by
    `base_order_scores`, descending) is placed no lower than rank r + max_drop.
    Returns indices into the inputs."""
    n = len(new_scores)
    if n == 0:
        return np.zeros(0, np.int64)
    orig = np.lexsort((np.arange(n), -base_order_scores))  # original ranking
    deadline = np.empty(n, np.int64)
    deadline[orig] = np.arange(n) + max_drop
    by_new = list(np.lexsort((np.arange(n), -new_scores)))
    placed = np.zeros(n, bool)
    due: list[tuple[int, int]] = []  # (deadline, item)
    for item in range(n):
        heapq.heappush(due, (int(deadline[item]), item))
    out: list[int] = []
    j = 0
    while len(out) < n:
        while due and placed[due[0][1]]:
            heapq.heappop(due)
        if due and due[0][0] <= len(out):
            item = heapq.heappop(due)[1]
        else:
            while placed[by_new[j]]:
                j += 1
            item = by_new[j]
        placed[item] = True
        out.append(item)
    return np.array(out, np.int64)
