"""Marqo's KAGL text-to-image evaluation, compared honestly with a model trained
on this catalogue: only the 319 product-name queries whose targets are all in
the unseen split (id % 5 == 0), matched against product photos only
("fields": ["image"]) over all 44,072 products.

    shopsearch ingest ../shared/data/fashion/catalogue.csv --images ../shared/data/fashion --index var/full-index
    python bench/kagl.py --index var/full-index

Marqo's published KAGL text-to-image figures (zero-shot, GPU): FashionSigLIP
Recall@1 0.179, Recall@10 0.489, MRR 0.293."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, percentiles, timed  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.schema import Query  # noqa: E402

PUBLISHED = {"Marqo-FashionSigLIP": (0.179, 0.489, 0.293), "ViT-B-16-SigLIP-webli": (0.169, 0.468, 0.272),
             "FashionCLIP2.0": (0.122, 0.404, 0.217)}


def unseen_queries() -> list[tuple[str, set[str]]]:
    """(query text, target product ids) for the text-to-image queries whose targets are all unseen."""
    targets: dict[str, set[str]] = defaultdict(set)
    text: dict[str, str] = {}
    with (BENCH / "marqo-kagl" / "text2image-qrels.tsv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            targets[r["query_id"]].add(r["product_id"])
            text[r["query_id"]] = r["query"]
    return [(text[q], t) for q, t in targets.items() if all(int(p) % 5 == 0 for p in t)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/full-index")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--no-attributes", action="store_true", help="dense photo vectors only")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    unseen = unseen_queries()
    eng = Engine(a.index)
    eng.warm_up()
    r1 = r10 = rr = 0.0
    ms = []
    for qtext, want in unseen:
        res, t = timed(eng.search, Query(text=qtext, fields=["image"], page_size=a.k, facets=False,
                                         understand=not a.no_attributes))
        ms.append(t)
        ids = [h.id for h in res.hits]
        hit = [i for i, p in enumerate(ids) if p in want]
        r1 += bool(hit) and hit[0] == 0
        r10 += bool(hit) and hit[0] < 10
        rr += 1.0 / (hit[0] + 1) if hit else 0.0
    n = len(unseen)
    out = {"queries": n, "products": len(eng.index.ids()), "recall@1": r1 / n, "recall@10": r10 / n, "mrr": rr / n,
           "latency_ms": percentiles(ms)}
    print(f"KAGL text->image, {n} queries with all targets unseen, photos only over {out['products']} products:")
    print(f"  {'Shopsearch':<24} R@1 {out['recall@1']:.3f}  R@10 {out['recall@10']:.3f}  MRR {out['mrr']:.3f}")
    for name, (a1, a10, m) in PUBLISHED.items():
        print(f"  {name:<24} R@1 {a1:.3f}  R@10 {a10:.3f}  MRR {m:.3f}  (published, zero-shot, all queries)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
