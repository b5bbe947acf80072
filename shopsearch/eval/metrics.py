"""Metrics exactly as `shared/bench/README.md` defines them.

- nDCG@10: gain 2^grade - 1 for TREC qrels (linear `esci_gain` for ESCI), discount
  log2(rank + 1), ideal ranking from all judged products of the query.
- Recall@k and MRR count the top grade of the qrels file as relevant (grade 2 in
  the fashion set, E in ESCI, 1 in a binary set). MRR is over the whole run."""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Judgments:
    gains: dict[str, dict[str, float]] = field(default_factory=dict)
    relevant: dict[str, set[str]] = field(default_factory=dict)


def load_qrels(path: Path) -> Judgments:
    path = Path(path)
    j = Judgments()
    gains: dict[str, dict[str, float]] = defaultdict(dict)
    grades: dict[str, dict[str, float]] = defaultdict(dict)
    with path.open(encoding="utf-8") as f:
        head = f.readline()
    if "," in head and "query_id" in head:  # ESCI csv
        with path.open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                qid, pid = r["query_id"], r["product_id"]
                gains[qid][pid] = float(r["esci_gain"])
                grades[qid][pid] = 1.0 if r.get("esci_label") == "E" else 0.0
        top = 1.0
    else:
        with path.open(encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4 or not re.fullmatch(r"-?\d+(\.\d+)?", parts[-1]):
                    continue  # header or junk
                qid, pid, g = parts[0], parts[2], float(parts[3])
                gains[qid][pid] = 2.0**g - 1.0
                grades[qid][pid] = g
        top = max((g for q in grades.values() for g in q.values()), default=1.0)
    j.gains = dict(gains)
    j.relevant = {q: {p for p, g in d.items() if g >= top and g > 0} for q, d in grades.items()}
    return j


def ndcg(ranked: list[str], gains: dict[str, float], k: int = 10) -> float:
    dcg = sum(gains.get(p, 0.0) / math.log2(i + 2) for i, p in enumerate(ranked[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall(ranked: list[str], relevant: set[str], k: int = 100) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0


def mrr(ranked: list[str], relevant: set[str]) -> float:
    for i, p in enumerate(ranked):
        if p in relevant:
            return 1.0 / (i + 1)
    return 0.0


def prefix(qid: str) -> str:
    """`dev-t012` -> `dev-t`: queries are reported per family."""
    return re.sub(r"\d+$", "", qid)


def evaluate_run(run: dict[str, list[str]], qrels: Judgments, k_recall: int = 100) -> dict[str, dict[str, float]]:
    """Mean metrics overall and per query prefix, over queries that have judgments."""
    per: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for qid, gains in qrels.gains.items():
        if qid not in run:
            continue
        ranked = run[qid]
        m = (ndcg(ranked, gains, 10), recall(ranked, qrels.relevant.get(qid, set()), k_recall),
             mrr(ranked, qrels.relevant.get(qid, set())))
        per["all"].append(m)
        per[prefix(qid)].append(m)
    out = {}
    for name, ms in per.items():
        n = len(ms)
        out[name] = {"queries": n, "ndcg@10": sum(m[0] for m in ms) / n,
                     f"recall@{k_recall}": sum(m[1] for m in ms) / n, "mrr": sum(m[2] for m in ms) / n}
    return out
