"""Shared helpers for the bench scripts: data paths, timing, RSS."""

from __future__ import annotations

import os
import resource
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SHOPSEARCH_DATA", ROOT.parent / "shared" / "data" / "fashion"))
BENCH = Path(os.environ.get("SHOPSEARCH_BENCH", ROOT.parent / "shared" / "bench"))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    pick = lambda p: s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]
    return {"n": len(s), "p50": statistics.median(s), "p95": pick(95), "p99": pick(99), "mean": statistics.fmean(s)}


def timed(fn, *a, **kw):
    t = time.perf_counter()
    r = fn(*a, **kw)
    return r, (time.perf_counter() - t) * 1000
