"""Search quality on the generated held-out-style dev set (bench/devset.py), per
category and per split: half A (build/calibrate) and half B (test, report only).

    python bench/devset.py                                  # writes var/devset (once)
    python bench/heldout.py --index var/demo-index [--unseen-index var/demo-unseen] \
        [--split A|B|both] [--categories hp,hs,hm,hz,hi] [--voice] [--json out.json]

Why: the shared dev queries are the ones the engine was tuned on; this set's half B
uses only words that no one tuning on half A has seen. Report both halves; tune
on A only. The shared dev-t / dev-x figures are printed in the same run as a
baseline line. Spoken queries (hv, slow: they go through speech recognition) run
only with --voice and are also reported as % of their typed twins' nDCG@10.
"type led": for text queries, how often the type facet of the result (counts over
the matches) is led by the type the query names."""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, ROOT  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.eval.metrics import Judgments, evaluate_run, load_qrels, mrr, ndcg, recall  # noqa: E402
from shopsearch.eval.runner import load_queries, prepare, to_query  # noqa: E402

CATS = ("hp", "hs", "hm", "hz", "hi", "hv")
NAMES = {"hp": "paraphrase", "hs": "synonym", "hm": "misspelling", "hz": "Chinese", "hi": "photo+modifier",
         "hv": "spoken"}


def per_query(ranked: list[str], qid: str, qrels: Judgments) -> dict[str, float]:
    rel = qrels.relevant.get(qid, set())
    return {"ndcg@10": ndcg(ranked, qrels.gains[qid], 10), "recall@100": recall(ranked, rel, 100), "mrr": mrr(ranked, rel)}


def mean(rs: list[dict], key: str) -> float:
    vals = [r[key] for r in rs if r.get(key) is not None]
    return statistics.fmean(vals) if vals else float("nan")


def run_set(eng: Engine, queries: list[dict], meta: dict[str, dict], qrels: Judgments, voice: bool) -> dict[str, dict]:
    """qid -> metrics (+ whether the type facet is led by the named type, + transcript)."""
    media = None
    if voice:
        from shopsearch.media import queries as media  # noqa: F811  (slow import: whisper)
    out: dict[str, dict] = {}
    t0 = time.perf_counter()
    for n, q in enumerate(queries, 1):
        m = meta[q["qid"]]
        rec: dict = {}
        if q.get("audio"):
            text = media.transcribe(q["audio"][0], eng.vocab)
            rec["transcript"] = text
            query = to_query({"qid": q["qid"], "text": text}, 100)
        else:
            query = to_query(q, 100)
        query.facets = m["category"] != "hi"
        res = eng.search(query)
        ranked = [h.id for h in res.hits]
        rec.update(per_query(ranked, q["qid"], qrels))
        if query.facets:
            facet = (res.facets or {}).get("type") or {}
            rec["type_led"] = float(bool(facet) and next(iter(facet)) == m["intent"]["type"])
        out[q["qid"]] = rec
        if n % 200 == 0:
            logging.info("%d/%d queries, %.0f s", n, len(queries), time.perf_counter() - t0)
    return out


def baseline(eng: Engine, unseen: Engine | None) -> dict[str, dict]:
    """The shared dev-t / dev-x figures, from the same engine in the same run."""
    qs = load_queries(BENCH / "fashion" / "dev-queries.jsonl")
    qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
    run = {}
    for q in qs:
        e, query = prepare(eng, q, 100, unseen)
        run[q["qid"]] = [h.id for h in e.search(query).hits]
    r = evaluate_run(run, qrels)
    return {k: r[k] for k in ("dev-t", "dev-x") if k in r}


def open_unseen(path: str | None) -> Engine | None:
    """The unseen-split index if it is there and opens; else dev-x runs on the main
    index restricted to id % 5 == 0 (the runner's fallback, same products)."""
    if not path or not Path(path).exists():
        return None
    try:
        return Engine(path)
    except Exception as e:  # an index still being built
        logging.warning("unseen index %s not usable (%s); dev-x uses the main index filtered to id %% 5 == 0", path, e)
        return None


def row(name: str, rs: list[dict]) -> str:
    led = mean(rs, "type_led")
    led_s = f"{led:7.3f}" if led == led else "      -"
    return (f"  {name:<26} {len(rs):5d}  {mean(rs, 'ndcg@10'):.4f}  {mean(rs, 'recall@100'):.4f}  "
            f"{mean(rs, 'mrr'):.4f}  {led_s}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", default=str(ROOT / "var" / "demo-index"))
    ap.add_argument("--unseen-index", default=None, help="for the dev-x baseline line (default: <index>/../demo-unseen)")
    ap.add_argument("--set", type=Path, default=ROOT / "var" / "devset", help="folder bench/devset.py wrote")
    ap.add_argument("--split", choices=("A", "B", "both"), default="both")
    ap.add_argument("--categories", default="hp,hs,hm,hz,hi", help=f"comma list of {','.join(CATS)}")
    ap.add_argument("--voice", action="store_true", help="also run the spoken queries (hv, slow)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the shared dev-t / dev-x line")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("shopsearch", "httpx", "urllib3", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    cats = [c.strip() for c in a.categories.split(",") if c.strip()]
    if a.voice and "hv" not in cats:
        cats.append("hv")
    splits = ("A", "B") if a.split == "both" else (a.split,)
    if not (a.set / "queries.jsonl").exists():
        raise SystemExit(f"{a.set}/queries.jsonl not found: run bench/devset.py first")
    meta = {m["qid"]: m for m in map(json.loads, (a.set / "meta.jsonl").open(encoding="utf-8"))}
    queries = [q for q in load_queries(a.set / "queries.jsonl")
               if meta[q["qid"]]["category"] in cats and meta[q["qid"]]["split"] in splits]
    if "hv" in cats:
        missing = [q["qid"] for q in queries if q.get("audio") and not Path(q["audio"][0]).exists()]
        if missing:
            raise SystemExit(f"{len(missing)} spoken clips missing (e.g. {missing[0]}): run bench/devset.py without --no-audio")
        # The typed twins are needed for the spoken/typed ratio even if not asked for.
        have = {q["qid"] for q in queries}
        twins = {meta[q["qid"]]["twin"] for q in queries if q.get("audio")} - have
        extra = [q for q in load_queries(a.set / "queries.jsonl") if q["qid"] in twins]
    else:
        extra = []
    qrels = load_qrels(a.set / "qrels.tsv")
    eng = Engine(a.index)
    t0 = time.perf_counter()
    res = run_set(eng, queries + extra, meta, qrels, voice="hv" in cats)
    secs = time.perf_counter() - t0
    out: dict = {"index": a.index, "set": str(a.set), "splits": list(splits), "categories": cats, "seconds": round(secs, 1)}

    print(f"held-out dev set {a.set} on {a.index} ({len(queries)} queries, {secs:.0f} s)")
    print(f"  {'category / split':<26} {'n':>5}  nDCG@10 R@100   MRR     type led")
    table: dict = {}
    asked = {q["qid"] for q in queries}
    for c in cats:
        for s in splits:
            rs = [res[q] for q in asked if meta[q]["category"] == c and meta[q]["split"] == s]
            if rs:
                table[f"{c}/{s}"] = {"queries": len(rs), **{k: mean(rs, k) for k in ("ndcg@10", "recall@100", "mrr", "type_led")}}
                print(row(f"{c} {NAMES[c]} {s}", rs))
    for s in splits:
        rs = [res[q] for q in asked if meta[q]["split"] == s]
        table[f"all/{s}"] = {"queries": len(rs), **{k: mean(rs, k) for k in ("ndcg@10", "recall@100", "mrr", "type_led")}}
        print(row(f"all {s}", rs))
    out["table"] = table

    if "hv" in cats:
        print("spoken as % of typed twins (nDCG@10):")
        groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for q in asked:
            m = meta[q]
            if m["category"] != "hv":
                continue
            pair = (res[q]["ndcg@10"], res[m["twin"]]["ndcg@10"])
            noise = f"snr{int(m['snr_db'])}dB" if m["snr_db"] is not None else "clean"
            for key in (f"split {m['split']}", f"voice {m['voice']}", f"speed {m['speed']}", f"noise {noise}", "all"):
                groups[key].append(pair)
        spoken = {}
        for key in sorted(groups):
            ps = groups[key]
            sp, ty = statistics.fmean(p[0] for p in ps), statistics.fmean(p[1] for p in ps)
            spoken[key] = {"queries": len(ps), "spoken": sp, "typed": ty, "ratio": sp / ty if ty else float("nan")}
            print(f"  {key:<26} {len(ps):5d}  spoken {sp:.4f}  typed {ty:.4f}  = {100 * spoken[key]['ratio']:.1f}%")
        out["spoken"] = spoken

    if not a.no_baseline:
        unseen_path = a.unseen_index or str(Path(a.index).parent / "demo-unseen")
        b = baseline(eng, open_unseen(unseen_path))
        out["baseline"] = b
        print("baseline, shared dev set, same engine:")
        for k, m in b.items():
            print(f"  {k:<26} {m['queries']:5d}  {m['ndcg@10']:.4f}  {m['recall@100']:.4f}  {m['mrr']:.4f}")
    out["queries"] = {q: res[q] for q in sorted(res)}
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
