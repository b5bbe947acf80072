"""Measuring search quality: TREC runs, qrels, nDCG@10, Recall@k and MRR."""

from shopsearch.eval.metrics import Judgments, evaluate_run, load_qrels

__all__ = ["Judgments", "evaluate_run", "load_qrels"]
