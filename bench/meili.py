"""What the Meilisearch-compatible layer costs over the native API: the same
queries through POST /search and POST /indexes/products/search, interleaved
query by query, in one process (the app over starlette's TestClient, so both go
through the same transport and the same Engine), several runs.

Reported per query set: the median end-to-end time of each API, the median of the
per-query differences (Meilisearch minus native) in wall time and in the process's
CPU time (steadier on a shared machine), and each API's time outside
Engine.search (its own work: parsing, filters, facets, the response). The filter
compiler's slow path (a mask over the columns) is timed on its own.

    python bench/meili.py --index var/demo-index [--queries 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

from shopsearch.api.app import create_app  # noqa: E402
from shopsearch.api.filter_syntax import Columns, compile_filter, parse_filter  # noqa: E402
from shopsearch.settings import Settings  # noqa: E402

CORE = ["type", "colour", "gender", "brand"]


def sets(texts: list[str]) -> dict[str, list[tuple[dict, dict]]]:
    """(native body, Meilisearch body) pairs asking the engine for the same work."""
    return {
        # text, facets on: the native API always counts facets, so the Meilisearch query asks for them
        "text": [({"text": t, "page_size": 20}, {"q": t, "limit": 20, "facets": CORE}) for t in texts],
        # text, no facets: what a plain Meilisearch search asks (the native API cannot turn facets off)
        "text, no facets": [({"text": t, "page_size": 20}, {"q": t, "limit": 20}) for t in texts],
        # text + a facet filter: the native API recounts that facet without its filter (one more search);
        # Meilisearch counts over the filtered hits, so the layer passes the filter as ids instead
        "text + filter": [({"text": t, "filters": {"gender": ["Men"]}, "page_size": 20},
                           {"q": t, "filter": "gender = Men", "limit": 20, "facets": CORE}) for t in texts],
        # browse with two filters
        "browse, 2 filters": [({"filters": {"gender": [g], "type": [ty]}, "page_size": 20},
                               {"filter": [f"gender = {g}", f"type = '{ty}'"], "hitsPerPage": 20, "facets": CORE})
                              for g in ("Men", "Women") for ty in ("Tshirts", "Shirts", "Watches", "Handbags",
                                                                   "Casual Shoes")],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    texts = [json.loads(line)["text"] for line in (BENCH / "fashion" / "dev-queries.jsonl").open()
             if '"text"' in line][: a.queries]
    with tempfile.TemporaryDirectory() as tmp:
        # keys beside, not in, the read-only demo index; no keys issued: search is open, as in the native case
        app = create_app(a.index, Settings(keys_path=str(Path(tmp) / "keys.sqlite")))
        with TestClient(app) as c:
            eng = app.state.engine
            inner = eng.search
            spent = [0.0]

            def timed_search(q, *args, **kw):  # the engine's own time, to subtract
                t = time.perf_counter()
                try:
                    return inner(q, *args, **kw)
                finally:
                    spent[0] += time.perf_counter() - t

            eng.search = timed_search
            report = {}
            for name, pairs in sets(texts).items():
                for nb, mb in pairs[:3]:  # warm up (columns, caches)
                    c.post("/search", json=nb)
                    c.post("/indexes/products/search", json=mb)
                native: list[list[float]] = []
                meili: list[list[float]] = []
                own_n: list[float] = []
                own_m: list[float] = []
                cpu_n: list[list[float]] = []
                cpu_m: list[list[float]] = []
                for run in range(a.runs):
                    rn, rm, cn, cm = [], [], [], []
                    for nb, mb in pairs:
                        for body, path, out, own in ((nb, "/search", rn, own_n),
                                                     (mb, "/indexes/products/search", rm, own_m)):
                            spent[0] = 0.0
                            t, cpu = time.perf_counter(), time.process_time()
                            r = c.post(path, json=body)
                            ms = (time.perf_counter() - t) * 1000
                            cpu_ms = (time.process_time() - cpu) * 1000  # every thread of this process
                            assert r.status_code == 200, (path, body, r.text[:300])
                            out.append(ms)
                            own.append(ms - spent[0] * 1000)
                            (cn if path == "/search" else cm).append(cpu_ms)
                    native.append(rn)
                    meili.append(rm)
                    cpu_n.append(cn)
                    cpu_m.append(cm)
                per_query_n = [statistics.median(x) for x in zip(*native)]
                per_query_m = [statistics.median(x) for x in zip(*meili)]
                diffs = [m - n for m, n in zip(per_query_m, per_query_n)]
                cdiffs = [statistics.median(m) - statistics.median(n) for m, n in zip(zip(*cpu_m), zip(*cpu_n))]
                report[name] = {"queries": len(pairs), "native_ms": round(statistics.median(per_query_n), 2),
                                "meili_ms": round(statistics.median(per_query_m), 2),
                                "meili_minus_native_ms": round(statistics.median(diffs), 3),
                                "meili_minus_native_cpu_ms": round(statistics.median(cdiffs), 3),
                                "native_outside_engine_ms": round(statistics.median(own_n), 3),
                                "meili_outside_engine_ms": round(statistics.median(own_m), 3)}
                print(f"{name:<20} {json.dumps(report[name])}", flush=True)
            ix = eng.index
            cat_cols = Columns(ix.column, ix.ids)
            filterable = {"id", "title", "type", "colour", "gender", "brand", "price", "season", "usage", "year",
                          "masterCategory", "subCategory"}
            slow = {}
            for f in ("colour = Black OR gender = Women", "NOT colour = Black", "year > 2012 AND usage != Casual",
                      "(type = Shirts OR colour = Blue) AND NOT season = Winter"):
                node = parse_filter(f)
                compile_filter(node, cat_cols, ix.ids, filterable)  # columns built once per index generation
                ts = []
                for _ in range(20):
                    t = time.perf_counter()
                    comp = compile_filter(parse_filter(f), cat_cols, ix.ids, filterable)
                    ts.append((time.perf_counter() - t) * 1000)
                slow[f] = {"ms": round(statistics.median(ts), 3), "matches": len(comp.filters.ids)}
            print("mask path (parse + compile to ids):", json.dumps(slow), flush=True)
            print(json.dumps({"index": a.index, "products": ix.count(), "runs": a.runs, "sets": report,
                              "mask_path": slow}))


if __name__ == "__main__":
    main()
