"""Learned fusion on a small fixture: `shopsearch tune` cross-validates, stores
per-query-type weights in the index, and the engine then uses them."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter

from conftest import cli
from shopsearch.engine import Engine
from shopsearch.index.embedded import EmbeddedIndex
from shopsearch.ranking.tune import clicks_to_gains
from shopsearch.schema import Query
from shopsearch.settings import Settings


def test_tune_learns_and_stores_weights(tmp_path, small_index, small_catalogue, tiny_model):
    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)
    rows = list(csv.DictReader(small_catalogue.open()))
    combos = [c for c, n in Counter((r["baseColour"], r["articleType"]) for r in rows).most_common(12)]
    qfile, qrels = tmp_path / "q.jsonl", tmp_path / "qrels.tsv"
    with qfile.open("w") as fq, qrels.open("w") as fr:
        for i, (colour, typ) in enumerate(combos):
            fq.write(json.dumps({"qid": f"t{i:02d}", "text": f"{colour} {typ}".lower()}) + "\n")
            for r in rows:
                if r["articleType"] == typ:
                    fr.write(f"t{i:02d}\t0\t{r['id']}\t{2 if r['baseColour'] == colour else 1}\n")
    out = cli("tune", "--queries", qfile, "--qrels", qrels, "--index", idx, "--folds", "3").stdout
    assert "held-out nDCG@10, 3-fold CV" in out and "attribute" in out
    line = next(l for l in out.splitlines() if l.startswith("attribute "))
    n, default, tuned = line.split()[1:4]
    assert int(n) == len(combos) and 0 < float(default) <= 1 and 0 < float(tuned) <= 1
    stored = EmbeddedIndex(idx).get_meta("fusion_weights")
    assert set(stored["attribute"]) == {"bm25", "text", "image", "attributes"}
    eng = Engine(idx, settings=Settings(image_model=tiny_model))
    q = Query(text=f"{combos[0][0]} {combos[0][1]}".lower())
    assert eng.tuned_weights(q, eng.parse(q.text)) == stored["attribute"]
    res = eng.search(q)
    for part in ("bm25", "text", "image"):
        assert (part in res.hits[0].parts) == (stored["attribute"][part] > 0)


def test_clicks_are_corrected_for_position_bias():
    g = clicks_to_gains([("q", "top", 1), ("q", "deep", 5)])
    # one click at rank 5 says more than one at rank 1: it had less chance to be seen
    assert g["q"]["deep"] > g["q"]["top"] > 0
