"""The held-out dev set generator (bench/devset.py): its grading re-derives the shared
dev qrels, half B never sees a half-A word, and the set is the same on every run.
Fast (no index): only the catalogue CSV and the shared dev files are read."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import BENCH, DATA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import devset  # noqa: E402
from devset_grade import grade, load_catalogue, parse_plain, type_keys  # noqa: E402

pytestmark = pytest.mark.skipif(not (DATA / "catalogue_hr.csv").exists(), reason="fashion data not found (SHOPSEARCH_DATA)")


@pytest.fixture(scope="module")
def generated():
    return devset.generate(seed=25, data=DATA)


def test_grading_reproduces_shared_dev_qrels():
    qpath, rpath = BENCH / "fashion" / "dev-queries.jsonl", BENCH / "fashion" / "dev-qrels.tsv"
    if not qpath.exists():
        pytest.skip("shared bench not found (SHOPSEARCH_BENCH)")
    qs = [json.loads(line) for line in qpath.open(encoding="utf-8")]
    sample = [q for q in qs if q["qid"].startswith("dev-t")][::12]
    want = {q["qid"] for q in sample}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with rpath.open(encoding="utf-8") as f:
        for line in f:
            p = line.split()
            if p[0] in want:
                qrels[p[0]][p[2]] = int(p[3])
    rows = load_catalogue(str(DATA / "catalogue_hr.csv"))
    keys = type_keys(rows)
    assert len(sample) >= 20
    for q in sample:
        it = parse_plain(q["text"], keys)
        assert it is not None, q
        assert grade(rows, it) == qrels[q["qid"]], q


def test_no_item_in_both_halves(generated):
    _, _, split = generated
    half_of: dict[str, set[str]] = defaultdict(set)
    for name, halves in split.items():
        assert halves["A"] and halves["B"], f"{name} has an empty half"
        assert not set(halves["A"]) & set(halves["B"]), name
        for h, items in halves.items():
            for it in items:
                half_of[it].add(h)
    assert all(len(h) == 1 for h in half_of.values()), [i for i, h in half_of.items() if len(h) > 1]


def test_no_word_names_two_types_or_colours():
    lists = devset.load_lists()
    for prefix in ("types/", "colours/", "zh/types/", "zh/colours/"):
        owner: dict[str, str] = {}
        for name, items in lists.items():
            if name.startswith(prefix) and name.count("/") == prefix.count("/"):
                for it in items:
                    assert owner.setdefault(it, name) == name, (it, owner[it], name)


def test_half_b_uses_only_half_b_words(generated):
    gens, qrels, split = generated
    in_b = {w for h in split.values() for w in h["B"]}
    in_a = {w for h in split.values() for w in h["A"]}
    n = {"A": 0, "B": 0}
    for g in gens:
        n[g.split] += 1
        assert g.items, f"{g.qid} uses no list item: it would measure nothing held out"
        for u in g.items:
            assert u.half == g.split, (g.qid, u)
            assert u.item in (in_b if g.split == "B" else in_a), (g.qid, u)
        assert g.qid.split("-")[-2] == g.split
        assert sum(1 for v in qrels[g.qid].values() if v == 2) >= devset.MIN_GRADE2, g.qid
    assert n["A"] >= 500 and n["B"] >= 500


def test_generator_is_deterministic(tmp_path, generated):
    """Same seed, same files: a second, independent generation writes identical bytes."""
    a, b = tmp_path / "a", tmp_path / "b"
    devset.write(*generated, a, audio=False)
    devset.write(*devset.generate(seed=25, data=DATA), b, audio=False)
    for name in ("queries.jsonl", "qrels.tsv", "meta.jsonl", "lists.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_no_query_text_shows_an_other_half_word(generated):
    """Beyond the recorded items: the text itself shows no word of the other half
    (e.g. "looking for" + "men" would read as the half-A phrase "for men")."""
    gens, _, split = generated
    neutral = devset.neutral_words(devset.plain_words())
    other = {h: {w for k, v in split.items() if k.startswith(devset.WORD_LISTS) for w in v["B" if h == "A" else "A"]}
             for h in devset.HALVES}
    bad = [(g.qid, g.text, devset.leaked(g.text, [u.item for u in g.items], other[g.split], neutral))
           for g in gens if g.text and devset.leaked(g.text, [u.item for u in g.items], other[g.split], neutral)]
    assert not bad, bad[:5]
