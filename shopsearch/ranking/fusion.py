"""Fusion of retriever outputs.

RRF (reciprocal rank fusion) needs no score calibration and is the default;
weighted fusion min-max normalises each retriever's scores over the candidate
union and adds them with weights. Both return per-part contributions so every
hit can say why it ranks where it does."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from shopsearch.index.base import Candidates


def union(channels: dict[str, Candidates]) -> np.ndarray:
    parts = [c.pos for c in channels.values() if len(c.pos)]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def fuse(
    channels: dict[str, Candidates], weights: dict[str, float], method: str = "rrf", rrf_k: int = 60,
    exact: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(candidate positions, fused scores in [0, 1], part -> contribution per candidate).

    `exact` optionally gives every candidate's raw score per channel (for dense
    channels it is cheap to compute), so weighted fusion sees all candidates."""
    pos = union(channels)
    total = np.zeros(len(pos), np.float64)
    parts: dict[str, np.ndarray] = {}
    if len(pos) == 0:
        return pos, total, parts
    for name, c in channels.items():
        w = weights.get(name, 1.0)
        contrib = np.zeros(len(pos), np.float64)
        if method == "rrf":
            idx = np.searchsorted(pos, c.pos)  # pos is sorted and holds every channel's positions
            contrib[idx] = w / (rrf_k + np.arange(1, len(c.pos) + 1))
        else:
            raw = exact.get(name) if exact and name in exact else None
            if raw is None:
                raw = np.zeros(len(pos))
                raw[np.searchsorted(pos, c.pos)] = c.scores
            lo, hi = float(np.min(raw)), float(np.max(raw))
            contrib = w * (raw - lo) / (hi - lo) if hi > lo else np.zeros(len(pos))
        parts[name] = contrib
        total += contrib
    # Normalise so a candidate first in every retriever scores 1.0 under either
    # method: boosts and penalties then have one scale.
    top = sum(weights.get(n, 1.0) for n in channels) * ((1.0 / (rrf_k + 1)) if method == "rrf" else 1.0)
    if top > 0:
        total /= top
        parts = {k: v / top for k, v in parts.items()}
    return pos, total, parts


def photo_evidence(p: np.ndarray, settings) -> np.ndarray:
    """Words against photos only: one named attribute's part, T x log(1 + p / floor), where p
    is the probability that each photo shows it. Logarithms make the doubts multiply, so a
    photo must look like every attribute a product name names (settings photo_*)."""
    return settings.photo_text_temperature * np.log1p(np.asarray(p, float) / settings.photo_attribute_floor)


def borrowed_words(terms: set[str], words: Iterable[dict[str, float]], settings) -> np.ndarray:
    """Words against photos only: T x photo_words x the summed weights of the query's words
    among each photo's borrowed title words (visual.Words)."""
    got = np.fromiter((sum(w.get(t, 0.0) for t in terms) for w in words), float)
    return settings.photo_text_temperature * settings.photo_words * got
