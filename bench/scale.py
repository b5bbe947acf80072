"""Scale: collections of N products built from the 44,072 real fashion rows plus
synthetic variants (vectors are perturbed copies of real ones, attributes drawn
from real products), in the embedded backend. For each size: build time, size on
disk, serving RSS (a fresh process), p50/p95 of text, photo and hybrid queries,
ANN recall@10 against exact search, and a brute-force numpy baseline timed in
the same run.

    shopsearch ingest ../shared/data/fashion/catalogue.csv --images ../shared/data/fashion --index var/full-index
    python bench/scale.py --source var/full-index --sizes 100000 [--sizes 1000000]"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, ROOT  # noqa: E402

FIELDS = ("text", "image", "visual")


def load_source(path: Path):
    db = sqlite3.connect(str(path / "records.sqlite"))
    rows = db.execute("SELECT id, doc, hash, predicted, text_vec, image_vec, visual_vec FROM products").fetchall()
    vecs = {f: np.stack([np.frombuffer(r[4 + i], np.float32) for r in rows]) for i, f in enumerate(FIELDS)}
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    return rows, vecs, meta


def build(source: Path, out: Path, n: int, seed: int = 0) -> float:
    from shopsearch.encoders.base import l2n
    from shopsearch.index.base import Record
    from shopsearch.index.embedded import EmbeddedIndex
    from shopsearch.schema import Product

    rows, vecs, meta = load_source(source)
    rng = np.random.default_rng(seed)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    ix = EmbeddedIndex(out, create=True)
    for k in ("encoder", "text_encoder", "image_encoder", "image_model", "vocab"):
        if k in meta:
            ix.set_meta(k, json.loads(meta[k]))
    products = [Product.model_validate_json(r[1]) for r in rows]
    step = 5000
    for s in range(0, n, step):
        recs = []
        for i in range(s, min(n, s + step)):
            j = i % len(rows)
            if i < len(rows):
                p, noise = products[j], 0.0
            else:  # a variant: the photo/text of j, the attributes of another real product
                a = products[int(rng.integers(len(rows)))]
                p = products[j].model_copy(update={"id": f"{products[j].id}-v{i}", "type": a.type, "colour": a.colour,
                                                   "gender": a.gender})
                noise = 0.05
            v = {f: l2n((vecs[f][j] + noise * rng.standard_normal(vecs[f].shape[1]).astype(np.float32) / np.sqrt(vecs[f].shape[1]))[None])[0]
                 for f in FIELDS}
            recs.append(Record(product=p, hash=str(i), text_vec=v["text"], image_vec=v["image"], visual_vec=v["visual"],
                               predicted=json.loads(rows[j][3]) if rows[j][3] else {}))
        ix.upsert(recs)
    ix.snapshot()  # bm25 + (above the threshold) the HNSW graphs built and saved here, as on first open
    ix.close()
    return time.perf_counter() - t0


def serve_measure(index: Path, queries: int) -> dict:
    """Run in a fresh process: open the index (timed), time queries, read the
    serving RSS, then (after the RSS is read) the ANN recall@10 against exact
    search and a brute-force numpy baseline over float32 vectors read from disk."""
    code = f"""
import json, resource, time, numpy as np, random, sqlite3
from shopsearch.engine import Engine
from shopsearch.schema import Query, Weights
from shopsearch.index.embedded import top_k
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'): return int(line.split()[1]) / 1024
t=time.perf_counter(); e=Engine({str(index)!r}); e.warm_up(); open_s=time.perf_counter()-t
ix=e.index; snap=ix.snapshot(); n=len(snap.ids)
texts=[json.loads(l)["text"] for l in open({str(BENCH / 'fashion' / 'dev-queries.jsonl')!r})][:{queries}]
rng=random.Random(0)
def pct(ms):
    s=sorted(ms); return dict(p50=s[len(s)//2], p95=s[int(0.95*(len(s)-1))])
out={{"products": n, "open_s": open_s, "large_mode": snap.large}}
def run(fn, qs):
    ms=[]
    for q in qs:
        t=time.perf_counter(); fn(q); ms.append((time.perf_counter()-t)*1000)
    return pct(ms)
out["text_ms"]=run(lambda t: (e.encoder.text._cache.clear(), e.search(Query(text=t, weights=Weights(image=0), facets=False))), texts)
out["hybrid_ms"]=run(lambda t: (e.encoder.text._cache.clear(), e.search(Query(text=t))), texts)
pos=[rng.randrange(n) for _ in texts]
vecs=[(ix.vector(p, "image"), ix.vector(p, "visual")) for p in pos]
out["photo_ms"]=run(lambda v: e.search(Query(facets=False), image_vectors=v), [v for v in vecs if v[0] is not None])
qv=e.encoder.encode_text(texts)
ann=[]
for v in qv:
    t=time.perf_counter(); ix.dense(v, "text", 10); ann.append((time.perf_counter()-t)*1000)
out["index_text_ms"]=pct(ann)
out["rss_mib"]=rss(); out["peak_rss_mib"]=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024
# the baseline: every text vector as float32 in memory, one matrix product per query
db=sqlite3.connect({str(index / 'records.sqlite')!r})
m=np.zeros((n, qv.shape[1]), np.float32)
for i, (b,) in enumerate(db.execute("SELECT text_vec FROM products ORDER BY rowid")):
    m[i]=np.frombuffer(b, np.float32)
rec=[]; bf=[]
for v in qv:
    t=time.perf_counter(); exact=top_k(m@v, 10); bf.append((time.perf_counter()-t)*1000)
    got=ix.dense(v, "text", 10)
    rec.append(len(set(exact.pos.tolist()) & set(got.pos.tolist()))/10)
out["ann_recall@10"]=float(np.mean(rec)); out["bruteforce_text_ms"]=pct(bf)
out["baseline_rss_mib"]=rss()
print(json.dumps(out))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default="var/full-index")
    ap.add_argument("--sizes", type=int, action="append")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default="var/bench/scale")
    ap.add_argument("--reuse", action="store_true", help="keep built records; rebuild only the vector indexes")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = []
    for n in a.sizes or [100_000]:
        out = Path(a.out).resolve() / f"n{n}"
        if a.reuse and (out / "records.sqlite").exists():  # keep the records, rebuild what the code builds on open
            from shopsearch.index.embedded import EmbeddedIndex

            for f in list(out.glob("ann-*")):
                f.unlink()
            t0 = time.perf_counter()
            ix = EmbeddedIndex(out)
            ix.snapshot()
            ix.close()
            secs = time.perf_counter() - t0
            print(f"{n:>9} products: records reused; vector index built in {secs:.0f}s")
        else:
            secs = build(Path(a.source).resolve(), out, n)
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
        m = serve_measure(out, a.queries)
        m.update({"build_s": round(secs, 1), "disk_mib": round(size)})
        results.append(m)
        ratio = m["index_text_ms"]["p50"] / max(m["bruteforce_text_ms"]["p50"], 1e-9)
        print(f"{n:>9} products: build {secs:.0f}s, {size:.0f} MiB on disk, open {m['open_s']:.1f}s, serving RSS "
              f"{m['rss_mib']:.0f} MiB (peak {m['peak_rss_mib']:.0f}), "
              f"text p50/p95 {m['text_ms']['p50']:.1f}/{m['text_ms']['p95']:.1f} ms, hybrid {m['hybrid_ms']['p50']:.1f}/"
              f"{m['hybrid_ms']['p95']:.1f} ms, photo {m['photo_ms']['p50']:.1f}/{m['photo_ms']['p95']:.1f} ms, "
              f"ANN recall@10 {m['ann_recall@10']:.3f}, dense top-10 {m['index_text_ms']['p50']:.2f} ms vs brute-force "
              f"numpy {m['bruteforce_text_ms']['p50']:.2f} ms (ratio {ratio:.2f})")
    print(json.dumps(results))
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
