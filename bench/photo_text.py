"""How words are matched against photos only ("fields": ["image"]): choosing the
log-linear scoring's settings (photo_text_temperature, photo_attribute_floor,
photo_words) on development queries, never on the benchmarks they are reported on.

Two development sets, photos only:
- **validation names**: every title whose products all sit in the shipped model's
  validation slice (held out from training, outside the unseen split) is a query,
  its products the targets, ranked over the whole index: the KAGL task
  (`bench/kagl.py`, reported on the unseen split) on products KAGL never uses;
- **dev-x**: the fashion dev set's attribute queries ("women navy backpack") on
  the unseen split, as `bench/quality.py` scores them.

The objective is validation R@10 + MRR + dev-x nDCG@10. Each setting is scored over
a grid (about 25 minutes); the best is printed with the current settings beside it,
and the scoring before it (reciprocal ranks of the cosine plus twice the
share-weighted probabilities, no borrowed words) as the baseline of the same run.

    python bench/photo_text.py --index var/full-index --unseen-index var/demo-unseen [--no-grid]"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, DATA  # noqa: E402
from quality import run  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.eval.metrics import evaluate_run, load_qrels  # noqa: E402
from shopsearch.eval.runner import load_queries  # noqa: E402
from shopsearch.schema import Query  # noqa: E402
from shopsearch.training.data import is_validation  # noqa: E402

KNOBS = ("photo_text_temperature", "photo_attribute_floor", "photo_words")
GRID = {"photo_text_temperature": (0.03, 0.04, 0.06, 0.08), "photo_attribute_floor": (0.001, 0.003, 0.01),
        "photo_words": (0.0, 0.15, 0.3, 0.5)}


def validation_names(catalogue: Path, val_fraction: float) -> list[tuple[str, set[str]]]:
    """(title, its products) for the titles whose every product is in the validation slice."""
    by_title: dict[str, set[str]] = defaultdict(set)
    with catalogue.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            by_title[r["productDisplayName"].strip()].add(r["id"])
    return [(t, ids) for t, ids in by_title.items()
            if t and all(int(p) % 5 != 0 and is_validation(p, val_fraction) for p in ids)]


def names_metrics(eng: Engine, queries: list[tuple[str, set[str]]], k: int = 100, fusion: str | None = None
                  ) -> dict[str, float]:
    r1 = r10 = rr = 0.0
    for text, want in queries:
        q = Query(text=text, fields=["image"], page_size=k, facets=False, fusion=fusion)
        ids = [h.id for h in eng.search(q).hits]
        hit = next((i for i, p in enumerate(ids) if p in want), None)
        r1 += hit == 0
        r10 += hit is not None and hit < 10
        rr += 1.0 / (hit + 1) if hit is not None else 0.0
    n = max(len(queries), 1)
    return {"r@1": r1 / n, "r@10": r10 / n, "mrr": rr / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/full-index", help="the whole catalogue (validation names)")
    ap.add_argument("--unseen-index", default="var/demo-unseen", help="the unseen split (dev-x)")
    ap.add_argument("--catalogue", default=str(DATA / "catalogue.csv"))
    ap.add_argument("--no-grid", action="store_true", help="score the current settings and the baseline only")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    eng, eng_u = Engine(a.index), Engine(a.unseen_index)
    frac = float(eng.encoder.image.heads.card.get("hyper_parameters", {}).get("val_fraction", 0.05))
    names = validation_names(Path(a.catalogue), frac)
    qs = load_queries(BENCH / "fashion" / "dev-queries.jsonl")
    qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
    devx = [q for q in qs if q["qid"].startswith("dev-x")]
    current = {k: getattr(eng.settings, k) for k in KNOBS}
    current_boost = eng.settings.photo_attribute_boost
    print(f"{len(names)} validation names, {len(devx)} dev-x queries; current {json.dumps(current)}")

    def apply(setting: dict) -> None:
        for e in (eng, eng_u):
            for k, v in setting.items():
                setattr(e.settings, k, v)

    def score(setting: dict, fusion: str | None = None) -> dict:
        apply(setting)
        m = names_metrics(eng, names, fusion=fusion)
        m["devx_ndcg@10"] = evaluate_run(run(eng_u, devx, fusion=fusion), qrels)["all"]["ndcg@10"]
        m["objective"] = m["r@10"] + m["mrr"] + m["devx_ndcg@10"]
        return m

    def line(name: str, m: dict) -> str:
        return (f"  {name:<34} validation R@1 {m['r@1']:.3f} R@10 {m['r@10']:.3f} MRR {m['mrr']:.3f} "
                f"| dev-x nDCG@10 {m['devx_ndcg@10']:.4f} | objective {m['objective']:.4f}")

    baseline = score({"photo_attribute_boost": 2.0}, fusion="rrf")
    print(line("baseline (ranks + 2 x probabilities)", baseline), flush=True)
    apply({"photo_attribute_boost": current_boost})
    rows = []
    for values in ([] if a.no_grid else itertools.product(*(GRID[k] for k in KNOBS))):
        setting = dict(zip(KNOBS, values))
        m = score(setting)
        rows.append((setting, m))
        print(line(f"T {values[0]} floor {values[1]} words {values[2]}", m), flush=True)
    now = score(current)
    print(line("current settings", now))
    best = max(rows, key=lambda r: r[1]["objective"]) if rows else (current, now)
    print(json.dumps({"best": best[0] | best[1], "current": current | now, "baseline": baseline}))


if __name__ == "__main__":
    main()
