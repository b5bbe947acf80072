"""Personalisation and learned fusion, simulated.

Synthetic shoppers with a hidden taste (a colour family) issue dev queries that
name no colour, click according to a position-biased click model (examination
1/rank^0.7, attractiveness 0.9 for a product of their taste and 0.05 otherwise),
then search again. nDCG@10 is measured against their hidden taste (grade 2: the
query's type in their colour family; grade 1: the query's type) before and after
personalisation. Then `tune` is cross-validated on the dev qrels.

    python bench/personalisation.py --index var/demo-index [--shoppers 80]"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.eval.metrics import load_qrels, ndcg  # noqa: E402
from shopsearch.eval.runner import load_queries, prepare  # noqa: E402
from shopsearch.query.tables import COLOUR_FAMILIES  # noqa: E402
from shopsearch.ranking.tune import collect, tune  # noqa: E402
from shopsearch.schema import Query  # noqa: E402

TASTES = ["black", "blue", "white", "red", "brown", "grey", "green", "pink"]


@dataclass
class Event:
    ts: float
    type: str
    product_id: str


class Sessions:
    """The bench's own click log (the engine only needs `for_session`)."""

    def __init__(self) -> None:
        self.log: dict[str, list[Event]] = {}

    def add(self, session: str, kind: str, pid: str) -> None:
        self.log.setdefault(session, []).append(Event(time.time(), kind, pid))

    def for_session(self, session: str) -> list[Event]:
        return self.log.get(session, [])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--shoppers", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sessions = Sessions()
    eng = Engine(a.index, events=sessions)
    eng.warm_up()
    rng = random.Random(a.seed)
    qs = [q for q in load_queries(BENCH / "fashion" / "dev-queries.jsonl") if q["qid"].startswith("dev-t")]
    plain = [q for q in qs if (i := eng.parse(q["text"])).types and not i.colours]
    before, after, clicks = [], [], 0
    for n in range(a.shoppers):
        taste = rng.choice(TASTES)
        fam = set(COLOUR_FAMILIES[taste])
        q1, q2 = rng.sample(plain, 2)
        sid = f"shopper-{n}"
        # browse: first query, position-biased clicks
        res = eng.search(Query(text=q1["text"], page_size=20, session=sid, facets=False))
        for r, h in enumerate(res.hits, 1):
            attractive = 0.9 if h.colour in fam else 0.05
            if rng.random() < (1 / r**0.7) * attractive:
                sessions.add(sid, "click", h.id)
                clicks += 1
        # the measured search
        types = set(eng.parse(q2["text"]).types)
        ix = eng.index
        gains = {}
        for pid in ix.ids():
            p = ix.product(ix.position(pid))
            if p.type in types:
                gains[pid] = 3.0 if p.colour in fam else 1.0
        for flag, bucket in ((False, before), (True, after)):
            res = eng.search(Query(text=q2["text"], page_size=10, session=sid, personalize=flag, facets=False))
            bucket.append(ndcg([h.id for h in res.hits], gains))
    print(f"personalisation: {a.shoppers} shoppers, {clicks} clicks; nDCG@10 against hidden taste "
          f"{statistics.mean(before):.4f} -> {statistics.mean(after):.4f}")

    # learned fusion, cross-validated on the dev qrels (a copy of the index keeps the demo untouched)
    tmp = Path(tempfile.mkdtemp())
    try:
        shutil.copytree(a.index, tmp / "idx")
        e2 = Engine(tmp / "idx")
        allq = load_queries(BENCH / "fashion" / "dev-queries.jsonl")
        cached = collect(e2, [(q["qid"], prepare(e2, q, 1000)[1]) for q in allq],
                         load_qrels(BENCH / "fashion" / "dev-qrels.tsv").gains)
        rep = tune(cached, e2.settings.rrf_k, folds=5)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for qt, m in rep.cv.items():
        print(f"tune {qt:<16} n={m['queries']:<4} held-out nDCG@10 default {m['default']:.4f} -> tuned {m['tuned']:.4f}")
    print(json.dumps({"personal_before": statistics.mean(before), "personal_after": statistics.mean(after),
                      "clicks": clicks, "tune_cv": rep.cv, "weights": rep.weights}))


if __name__ == "__main__":
    main()
