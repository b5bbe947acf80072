"""How results are counted when no sure intent decides it: choose the relevance cut
per retriever (`count_text_sim`, `count_bm25_share`) on the shared dev-t queries, and
report how often the type facet is led by the type a query names.

    python bench/counts.py --index var/demo-index

The cut is chosen with understanding off (so no parsed type decides the count), as
the threshold pair whose counted set best matches the judged products (grade >= 1)
by mean F1 over queries. The type-facet figure for held-out-style queries is in
bench/heldout.py ("type led"); here it is printed for dev-t as a check."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.eval.metrics import load_qrels  # noqa: E402
from shopsearch.eval.runner import load_queries, to_query  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--n", type=int, default=150, help="dev-t queries (every other one)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    eng = Engine(a.index)
    qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
    qs = [q for q in load_queries(BENCH / "fashion" / "dev-queries.jsonl") if q["qid"].startswith("dev-t")][::2][: a.n]
    rows = []  # per query: (text_sim, bm25 share, relevant) arrays over the pool
    led = []
    for q in qs:
        query = to_query(q, 1000)
        query.understand = False
        res = eng.search(query)
        sim = np.array([h.parts.get("text_sim", 0.0) for h in res.hits])
        bm = np.array([h.parts.get("bm25_score", 0.0) for h in res.hits])
        rel = np.array([qrels.gains.get(q["qid"], {}).get(h.id, 0) > 0 for h in res.hits])
        rows.append((sim, bm / bm.max() if bm.max() > 0 else bm, rel))
        full = to_query(q, 10)
        full.facets = True
        r2 = eng.search(full)
        types = (r2.intent or {}).get("types") or []
        if len(types) == 1 and r2.facets.get("type"):
            led.append(next(iter(r2.facets["type"])) == types[0])
    best = None
    for ts in np.arange(0.3, 0.8, 0.025):
        for bs in np.arange(0.3, 1.01, 0.1):
            f1s = []
            for sim, bm, rel in rows:
                got = (sim >= ts) | (bm >= bs)
                tp = float((got & rel).sum())
                p = tp / got.sum() if got.sum() else 0.0
                r = tp / rel.sum() if rel.sum() else 0.0
                f1s.append(2 * p * r / (p + r) if p + r else 0.0)
            score = float(np.mean(f1s))
            if best is None or score > best[0]:
                best = (score, round(float(ts), 3), round(float(bs), 2))
    print(f"relevance cut on {len(rows)} dev-t queries (understanding off): best mean F1 {best[0]:.3f} at "
          f"count_text_sim {best[1]}, count_bm25_share {best[2]}")
    if led:
        print(f"dev-t queries naming one type: type facet led by it in {np.mean(led):.3f} of {len(led)}")


if __name__ == "__main__":
    main()
