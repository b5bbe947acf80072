"""Spoken queries: espeak-ng reads dev text queries; Whisper tiny.en transcribes
them with and without catalogue adaptation (prompt + vocabulary correction).
Reports word error rate, latency per clip, and nDCG@10 of spoken vs typed queries.

    python bench/voice.py --index var/demo-index [--n 60]"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, ROOT  # noqa: E402
from media_common import speak  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.eval.metrics import evaluate_run, load_qrels  # noqa: E402
from shopsearch.eval.runner import load_queries, to_query  # noqa: E402
from shopsearch.media.audio import decode_audio  # noqa: E402
from shopsearch.media.voice import transcribe_samples  # noqa: E402


def wer(ref: str, hyp: str) -> float:
    import re

    norm = lambda x: re.findall(r"[a-z0-9]+", x.lower().replace("-", " "))
    r, h = norm(ref), norm(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev = cur
    return d[len(h)] / max(len(r), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    eng = Engine(a.index)
    qs = [q for q in load_queries(BENCH / "fashion" / "dev-queries.jsonl") if q["qid"].startswith("dev-t")]
    qs = qs[:: max(1, len(qs) // a.n)][: a.n]
    qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
    cache = ROOT / "var" / "bench" / "voice"
    res = {"raw": {}, "adapted": {}}
    wers = {"raw": [], "adapted": []}
    ms = []
    for q in qs:
        samples = decode_audio(str(speak(q["text"], cache / f"{q['qid']}.wav")))
        for mode in ("raw", "adapted"):
            t = time.perf_counter()
            heard = transcribe_samples(samples, eng.vocab, adapt=mode == "adapted", language="en", model_name=a.model)
            ms.append((time.perf_counter() - t) * 1000)
            wers[mode].append(wer(q["text"], heard))
            res[mode][q["qid"]] = heard
    typed = {q["qid"]: [h.id for h in eng.search(to_query(q, 100)).hits] for q in qs}
    out = {"clips": len(qs), "typed_ndcg": evaluate_run(typed, qrels)["all"]["ndcg@10"], "latency_ms_median": statistics.median(ms)}
    for mode in ("raw", "adapted"):
        run = {q["qid"]: [h.id for h in eng.search(to_query(dict(q, text=res[mode][q["qid"]]), 100)).hits] for q in qs}
        out[f"wer_{mode}"] = statistics.mean(wers[mode])
        out[f"spoken_ndcg_{mode}"] = evaluate_run(run, qrels)["all"]["ndcg@10"]
    out["ratio_adapted"] = out["spoken_ndcg_adapted"] / out["typed_ndcg"]
    print(f"{len(qs)} spoken dev queries (espeak-ng), Whisper {a.model}: WER raw {out['wer_raw']:.3f} -> adapted "
          f"{out['wer_adapted']:.3f}; nDCG@10 typed {out['typed_ndcg']:.4f}, spoken raw {out['spoken_ndcg_raw']:.4f}, "
          f"adapted {out['spoken_ndcg_adapted']:.4f} ({out['ratio_adapted']:.1%} of typed); {out['latency_ms_median']:.0f} ms per clip")
    bad = [(q["text"], res["adapted"][q["qid"]]) for q in qs if wer(q["text"], res["adapted"][q["qid"]]) > 0][:8]
    print("misheard:", bad)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
