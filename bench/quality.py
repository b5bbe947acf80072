"""Search quality on the relevance sets, each component alone and fused, so the
fusion earns its place.

    python bench/quality.py --index var/demo-index --unseen-index var/demo-unseen \
        [--esci-index var/esci-index]

The unseen index holds the demo catalogue's unseen split only:

    shopsearch ingest ../shared/data/fashion/catalogue_hr.csv --images ../shared/data/fashion \
        --index var/demo-unseen --where "id % 5 == 0"

Fashion dev set (shared/bench/fashion): dev-t (text, all fields) and dev-x (text
against photos only, unseen split). ESCI (shared/bench/esci): hybrid against a
plain bm25s baseline over title + brand + color + bullet points, same run."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.eval.metrics import evaluate_run, load_qrels  # noqa: E402
from shopsearch.eval.runner import load_queries, to_query  # noqa: E402
from shopsearch.schema import Weights  # noqa: E402

MODES = {
    "bm25": dict(weights=Weights(text=0, image=0, bm25=1), understand=False),
    "dense-text": dict(weights=Weights(bm25=0, image=0, text=1), understand=False),
    "dense-image": dict(weights=Weights(bm25=0, text=0, image=1), understand=False),
    "fused (no understanding)": dict(understand=False),
    "fused + understanding": dict(),
}


def run(engine: Engine, queries: list[dict], k: int = 100, **over) -> dict[str, list[str]]:
    out = {}
    for q in queries:
        query = to_query(q, k)
        for key, v in over.items():
            setattr(query, key, v)
        out[q["qid"]] = [h.id for h in engine.search(query).hits]
    return out


def fmt(name: str, m: dict) -> str:
    return f"  {name:<28} nDCG@10 {m['ndcg@10']:.4f}  R@100 {m['recall@100']:.4f}  MRR {m['mrr']:.4f}  (n={m['queries']})"


def fashion(index: str, unseen: str) -> dict:
    qs = load_queries(BENCH / "fashion" / "dev-queries.jsonl")
    qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
    t = [q for q in qs if q["qid"].startswith("dev-t")]
    x = [q for q in qs if q["qid"].startswith("dev-x")]
    eng, eng_u = Engine(index), Engine(unseen)
    res = {"dev-t": {}, "dev-x": {}}
    print("fashion dev-t (text, all fields, catalogue_hr):")
    for name, over in MODES.items():
        m = evaluate_run(run(eng, t, **over), qrels)["all"]
        res["dev-t"][name] = m
        print(fmt(name, m))
    print("fashion dev-x (text against photos only, unseen split):")
    for name, over in {"dense-image": dict(understand=False), "dense-image + photo attributes": dict()}.items():
        m = evaluate_run(run(eng_u, x, **over), qrels)["all"]
        res["dev-x"][name] = m
        print(fmt(name, m))
    return res


_TOK = re.compile(r"[a-z0-9]+")


def esci(index: str) -> dict:
    """Hybrid (this engine) against plain bm25s on title+brand+color+bullets."""
    import bm25s

    base = BENCH / "esci"
    products = list(csv.DictReader((base / "products.csv").open(encoding="utf-8")))
    ids = [p["product_id"] for p in products]
    corpus = [_TOK.findall(" ".join([p["title"], p["brand"], p["color"], p["bullet_points"]]).lower()) for p in products]
    retr = bm25s.BM25()
    retr.index(corpus, show_progress=False)
    queries = list(csv.DictReader((base / "queries.csv").open(encoding="utf-8")))
    qrels = load_qrels(base / "qrels.csv")
    bm = {}
    for q in queries:
        toks = _TOK.findall(q["query"].lower()) or [""]
        docs, _ = retr.retrieve([toks], k=100, show_progress=False)
        bm[q["query_id"]] = [ids[i] for i in docs[0]]
    eng = Engine(index)
    qs = [{"qid": q["query_id"], "text": q["query"]} for q in queries]
    res = {"plain bm25s": evaluate_run(bm, qrels)["all"]}
    for name, over in {"engine bm25": MODES["bm25"], "engine dense-text": MODES["dense-text"],
                       "hybrid": dict(understand=False), "hybrid + understanding": dict()}.items():
        res[name] = evaluate_run(run(eng, qs, **over), qrels)["all"]
    print("ESCI (150 queries, 6,764 products, text only):")
    for name, m in res.items():
        print(fmt(name, m))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--unseen-index", default="var/demo-unseen")
    ap.add_argument("--esci-index", default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = {"fashion": fashion(a.index, a.unseen_index)}
    if a.esci_index:
        out["esci"] = esci(a.esci_index)
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
