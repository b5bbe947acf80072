"""The eval contract: metrics by hand on a tiny fixture, and the CLI end to end."""

from __future__ import annotations

import json
import math

import pytest

from conftest import cli
from shopsearch.eval.metrics import evaluate_run, load_qrels, ndcg


def test_metrics_match_hand_computation(tmp_path):
    q = tmp_path / "qrels.tsv"
    q.write_text("q1\t0\tA\t2\nq1\t0\tB\t1\nq1\t0\tC\t0\nq2\t0\tD\t2\n")
    j = load_qrels(q)
    res = evaluate_run({"q1": ["B", "X", "A"], "q2": []}, j)
    # q1: DCG = 1/log2(2) + 3/log2(4) = 2.5; IDCG = 3 + 1/log2(3)
    q1 = 2.5 / (3 + 1 / math.log2(3))
    assert res["all"]["ndcg@10"] == pytest.approx(q1 / 2, abs=1e-9)
    assert res["q"]["queries"] == 2
    assert res["all"]["recall@100"] == pytest.approx(0.5)
    assert res["all"]["mrr"] == pytest.approx((1 / 3) / 2)


def test_esci_gains_are_linear(tmp_path):
    q = tmp_path / "qrels.csv"
    q.write_text("query_id,query,product_id,esci_label,grade,esci_gain\n"
                 "a,x,P1,E,3,1.0\na,x,P2,S,2,0.1\na,x,P3,I,0,0.0\n")
    j = load_qrels(q)
    assert j.relevant["a"] == {"P1"}
    # ranking P2 then P1: DCG = 0.1 + 1/log2(3); IDCG = 1 + 0.1/log2(3)
    assert ndcg(["P2", "P1"], j.gains["a"]) == pytest.approx((0.1 + 1 / math.log2(3)) / (1 + 0.1 / math.log2(3)))


def test_eval_cli_end_to_end(tmp_path, small_index, small_catalogue):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"qid": "t-1", "text": "navy blue shirt"}) + "\n")
    run = tmp_path / "run.tsv"
    cli("search-batch", qfile, "--index", small_index, "--out", run, "--k", "100")
    lines = [l.split() for l in run.read_text().splitlines()]
    assert lines and all(len(l) == 6 and l[1] == "Q0" for l in lines)
    assert [int(l[3]) for l in lines] == list(range(1, len(lines) + 1))
    first, third = lines[0][2], lines[2][2]
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(f"t-1\t0\t{first}\t2\nt-1\t0\t{third}\t1\nt-1\t0\tnot-in-index\t2\n")
    out = json.loads(cli("eval", "--queries", qfile, "--qrels", qrels, "--index", small_index, "--json").stdout)
    expected = (3 + 1 / math.log2(4)) / (3 + 3 / math.log2(3) + 1 / math.log2(4))
    assert out["all"]["ndcg@10"] == pytest.approx(expected, abs=1e-6)
    assert out["all"]["recall@100"] == pytest.approx(0.5)
    assert out["all"]["mrr"] == pytest.approx(1.0)
    assert out["t-"]["queries"] == 1
