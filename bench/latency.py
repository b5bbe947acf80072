"""In-process query latency over the demo index: text (English and Chinese dev
queries), photo, and text+photo queries, median and p95 over at least 200 queries
each, after a warm-up; a plain BM25-only query is timed in the same run as the
baseline. Peak RSS of the process is printed too.

    python bench/latency.py --index var/demo-index [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, peak_rss_mib, percentiles, timed  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.schema import Query, Weights  # noqa: E402

ZH = ["男士黑色手表", "女士红色连衣裙", "蓝色牛仔裤", "白色运动鞋", "女士手提包", "男士衬衫", "黑色背包", "粉色上衣"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the median of the runs' p50/p95 is reported")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    eng = Engine(a.index)
    eng.warm_up()
    texts = [json.loads(l)["text"] for l in (BENCH / "fashion" / "dev-queries.jsonl").open() if '"text"' in l]
    texts = (texts + ZH * 5)[:240]
    rng = random.Random(0)
    ix = eng.index
    photos = [ix.product(i).image for i in rng.sample(range(len(ix.ids())), 200) if ix.product(i).image]
    kinds = {
        "bm25 only (baseline)": [Query(text=t, weights=Weights(text=0, image=0), understand=False, facets=False) for t in texts],
        "text (hybrid + understanding + facets)": [Query(text=t) for t in texts],
        "photo": [Query(images=[p]) for p in photos],
        "text + photo": [Query(text="black", images=[p]) for p in photos],
    }
    for q in kinds["text (hybrid + understanding + facets)"][:20] + kinds["photo"][:5]:
        eng.search(q)  # warm-up: jieba, snapshots, caches
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(a.repeat):
        for name, qs in kinds.items():
            eng.encoder.text._cache.clear() if hasattr(eng.encoder, "text") else None
            ms = [timed(eng.search, q)[1] for q in qs]
            runs[name].append(percentiles(ms))
    base = statistics.median(r["p50"] for r in runs["bm25 only (baseline)"])
    print(f"{'kind':<40}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'p50 / bm25':>12}")
    out = {}
    for name, rs in runs.items():
        p50 = statistics.median(r["p50"] for r in rs)
        p95 = statistics.median(r["p95"] for r in rs)
        out[name] = {"n": rs[0]["n"], "p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "ratio_p50_vs_bm25": round(p50 / base, 2)}
        print(f"{name:<40}{rs[0]['n']:>5}{p50:>9.2f}{p95:>9.2f}{p50 / base:>12.2f}")
    out["peak_rss_mib"] = round(peak_rss_mib())
    out["products"] = len(ix.ids())
    print(f"peak RSS {out['peak_rss_mib']} MiB over {out['products']} products ({a.repeat} runs, median of runs)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
