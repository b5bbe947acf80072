"""What merchandising rules cost per query: 1,000 rules (exact queries, words contained,
parsed intents, filters, always), matched and applied to real searches on the demo
index, against the same searches with no rules, interleaved, median of several runs.

    python bench/rules.py --index var/demo-index [--rules 1000] [--runs 5]"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.ranking.rules import Rule, RuleBook  # noqa: E402
from shopsearch.schema import Query  # noqa: E402


def rules(n: int, ids: list[str], types: list[str]) -> list[Rule]:
    out = []
    for i in range(n):
        kind = i % 5
        match = ({"query": f"promo query {i}"}, {"contains": f"word{i} sale"}, {"intent": {"type": types[i % len(types)]}},
                 {"filter": {"brand": f"brand{i}"}}, {"query": f"another {i}"})[kind]
        out.append(Rule(id=f"r{i}", match=match, pin=[{"id": ids[i % len(ids)], "position": 1 + i % 5}],
                        boost=[{"field": "colour", "value": "Black", "weight": 0.1}]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        on, off = Path(tmp) / "on", Path(tmp) / "off"
        shutil.copytree(a.index, on)
        shutil.copytree(a.index, off)
        eng, plain = Engine(on), Engine(off)
        eng.warm_up()
        plain.warm_up()
        texts = [json.loads(l)["text"] for l in (BENCH / "fashion" / "dev-queries.jsonl").open() if '"dev-t' in l][:100]
        ids, types = eng.index.ids(), sorted(eng.vocab.types)
        book = RuleBook(rules(a.rules, ids, types))
        intents = [eng.parse(t) for t in texts]
        match_ms = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            for t, it in zip(texts, intents):
                book.match(t, it, Query().filters, [])
            match_ms.append((time.perf_counter() - t0) * 1000 / len(texts))
        eng.index.set_meta("rules", [r.model_dump(mode="json") for r in book.rules])
        with_rules, without = [], []
        for _ in range(a.runs):
            for t in texts:  # interleaved: the same query on the index with the rules and on its copy without
                t0 = time.perf_counter()
                eng.search(Query(text=t, page_size=20))
                with_rules.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                plain.search(Query(text=t, page_size=20))
                without.append((time.perf_counter() - t0) * 1000)
        matched = sum(bool(book.match(t, it, Query().filters, []).rules) for t, it in zip(texts, intents))
    print(f"{a.rules} rules, {len(texts)} dev-t queries ({matched} match a rule), median of {a.runs} runs:")
    print(f"  matching alone: {statistics.median(match_ms):.3f} ms a query")
    print(f"  search p50 with rules {statistics.median(with_rules):.2f} ms, without {statistics.median(without):.2f} ms, "
          f"difference {statistics.median(with_rules) - statistics.median(without):+.2f} ms")


if __name__ == "__main__":
    main()
