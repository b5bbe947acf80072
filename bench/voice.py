"""Spoken queries: espeak-ng reads dev text queries (WAVs cached under var/bench/voice);
each recogniser transcribes them raw, with the catalogue prompt, and fully adapted
(prompt + hotwords + vocabulary cleaning). Reports word error rate, median latency
per clip and nDCG@10 of spoken vs typed queries; then a few Chinese clips (espeak-ng
pinyin voice) through the multilingual model.

    python bench/voice.py --index var/hr [--n 60] [--offset 0] [--models tiny.en base sphinx]

--offset picks another slice of the dev queries (0 is the slice the adaptation was
tuned on; 2 is held out)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, ROOT  # noqa: E402
from media_common import speak  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.eval.metrics import evaluate_run, load_qrels  # noqa: E402
from shopsearch.eval.runner import load_queries, to_query  # noqa: E402
from shopsearch.media.audio import decode_audio  # noqa: E402
from shopsearch.media.voice import clean, transcribe_samples  # noqa: E402
from shopsearch.query.parser import parse  # noqa: E402

log = logging.getLogger("bench.voice")
CACHE = ROOT / "var" / "bench" / "voice"

# (what is said, pinyin for espeak-ng's cmn-latn-pinyin voice, expected type, colour, gender)
CHINESE = [
    ("男士黑色手表", "nan2 shi4 hei1 se4 shou3 biao3", "Watches", "Black", "Men"),
    ("女士红色连衣裙", "nv3 shi4 hong2 se4 lian2 yi1 qun2", "Dresses", "Red", "Women"),
    ("白色运动鞋", "bai2 se4 yun4 dong4 xie2", "Sports Shoes", "White", None),
    ("蓝色牛仔裤", "lan2 se4 niu2 zai3 ku4", "Jeans", "Blue", None),
    ("女士黑色手提包", "nv3 shi4 hei1 se4 shou3 ti2 bao1", "Handbags", "Black", "Women"),
    ("男士白色衬衫", "nan2 shi4 bai2 se4 chen4 shan1", "Shirts", "White", "Men"),
    ("女士棕色钱包", "nv3 shi4 zong1 se4 qian2 bao1", "Wallets", "Brown", "Women"),
    ("男士灰色T恤", "nan2 shi4 hui1 se4 ti1 xu4", "Tshirts", "Grey", "Men"),
]


def words(x: str) -> list[str]:
    """Words for WER: lower case, 't-shirt'/'t shirt'/'tshirt' one word, hyphens split."""
    x = x.lower().replace("t-shirt", "tshirt").replace("t shirt", "tshirt").replace("-", " ")
    return re.findall(r"[a-z0-9]+", x)


def wer(ref: str, hyp: str) -> float:
    r, h = words(ref), words(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev = cur
    return d[len(h)] / max(len(r), 1)


def sphinx(vocab: Any) -> dict[str, Callable[[np.ndarray], str]] | None:
    """pocketsphinx (optional, `pip install pocketsphinx`): its default English language
    model, and a JSGF grammar [gender] [colour] type from the catalogue vocabulary."""
    try:
        from pocketsphinx import Decoder
    except ImportError:
        log.warning("pocketsphinx not installed: skipped")
        return None
    d = Decoder(samprate=16000, loglevel="FATAL")

    def ok(phrase: str) -> bool:
        return all(d.lookup_word(w) for w in phrase.split())

    def alts(values: list[str]) -> str:
        keep = sorted({v.lower() for v in values if ok(v.lower())})
        return "(" + " | ".join(keep) + ")"

    genders = [g for g in ("men", "women", "kids", "boys", "girls") if ok(g)]
    types = [t.lower() for t in vocab.types] + [t.lower().rstrip("s") for t in vocab.types]
    jsgf = (f"#JSGF V1.0;\ngrammar shop;\npublic <q> = [{alts(genders)}] [{alts(list(vocab.colours))}] "
            f"{alts(types)};\n")
    d.add_jsgf_string("shop", jsgf)

    def run(samples: np.ndarray, search: str) -> str:
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes()
        d.activate_search(search)
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        return d.hyp().hypstr if d.hyp() else ""

    default = d.current_search()
    return {"sphinx": lambda s: run(s, default), "sphinx-grammar": lambda s: run(s, "shop")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/hr")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--models", nargs="+", default=["tiny.en", "base", "sphinx"])
    ap.add_argument("--no-chinese", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    eng = Engine(a.index)
    vocab = eng.vocab
    qs = [q for q in load_queries(BENCH / "fashion" / "dev-queries.jsonl") if q["qid"].startswith("dev-t")]
    step = max(1, len(qs) // a.n)
    qs = qs[a.offset::step][: a.n]
    qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
    audio = {q["qid"]: decode_audio(str(speak(q["text"], CACHE / f"{q['qid']}.wav"))) for q in qs}

    def ndcg(texts: dict[str, str]) -> float:
        run = {q["qid"]: [h.id for h in eng.search(to_query(dict(q, text=texts[q["qid"]]), 100)).hits] for q in qs}
        return evaluate_run(run, qrels)["all"]["ndcg@10"]

    typed = ndcg({q["qid"]: q["text"] for q in qs})
    report: dict[str, Any] = {"clips": len(qs), "offset": a.offset, "typed_ndcg": typed, "models": {}}
    recognisers: dict[str, dict[str, Callable[[np.ndarray], str]]] = {}
    for name in a.models:
        if name == "sphinx":
            sp = sphinx(vocab)
            if sp:
                recognisers["sphinx"] = {"raw": sp["sphinx"], "grammar": sp["sphinx-grammar"],
                                         "grammar+clean": lambda s, f=sp["sphinx-grammar"]: clean(f(s), vocab)}
            continue
        recognisers[name] = {
            "raw": lambda s, n=name: transcribe_samples(s, vocab, adapt=False, model_name=n),
            "prompt+clean": lambda s, n=name: transcribe_samples(s, vocab, model_name=n, hotwords=False),
            "adapted": lambda s, n=name: transcribe_samples(s, vocab, model_name=n),
        }
    for name, modes in recognisers.items():
        out: dict[str, Any] = {}
        for mode, fn in modes.items():
            fn(audio[qs[0]["qid"]])  # load and warm up outside the timing
            heard, ms = {}, []
            for q in qs:
                t = time.perf_counter()
                heard[q["qid"]] = fn(audio[q["qid"]])
                ms.append((time.perf_counter() - t) * 1000)
            w = statistics.mean(wer(q["text"], heard[q["qid"]]) for q in qs)
            nd = ndcg(heard)
            out[mode] = {"wer": round(w, 3), "ndcg": round(nd, 4), "ratio": round(nd / typed, 3),
                         "ms_median": round(statistics.median(ms))}
            print(f"{name:8s} {mode:14s} WER {w:.3f}  nDCG@10 {nd:.4f} ({nd / typed:.1%} of typed)  "
                  f"{statistics.median(ms):.0f} ms/clip", flush=True)
            if mode in ("adapted", "grammar+clean"):
                bad = [(q["text"], heard[q["qid"]]) for q in qs if wer(q["text"], heard[q["qid"]]) > 0]
                print(f"  misheard ({len(bad)}):", bad[:10])
        report["models"][name] = out
    print(f"typed nDCG@10 {typed:.4f} over {len(qs)} dev queries (offset {a.offset})")

    if not a.no_chinese and "base" in a.models:
        rows, hits = [], 0
        for zh, pinyin, ty, col, gen in CHINESE:
            s = decode_audio(str(speak(pinyin, CACHE / f"zh-{pinyin.replace(' ', '_')}.wav", voice="cmn-latn-pinyin",
                                       speed=130)))
            t = time.perf_counter()
            heard = {lang: transcribe_samples(s, vocab, language=lang) for lang in ("zh", "auto")}
            raw = transcribe_samples(s, vocab, adapt=False, language="zh")
            ms = (time.perf_counter() - t) * 1000 / 3
            it = parse(heard["zh"], vocab)
            right = (ty in it.types) + (col in it.colours) + (gen is None or gen in it.genders)
            hits += right
            rows.append({"said": zh, "heard_zh": heard["zh"], "heard_auto": heard["auto"], "heard_raw": raw,
                         "types": it.types, "colours": it.colours[:1], "genders": it.genders[:1],
                         "right_of_3": right, "ms": round(ms)})
            print(f"  {zh}: zh+prompt {heard['zh']!r}  auto {heard['auto']!r}  no prompt {raw!r} -> "
                  f"{it.types} {it.colours[:1]} {it.genders[:1]} ({right}/3)", flush=True)
        print(f"Chinese (espeak-ng pinyin voice, Whisper base): {hits}/{3 * len(CHINESE)} attributes parsed right")
        report["chinese"] = {"attributes_right": hits, "attributes": 3 * len(CHINESE), "clips": rows}
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / f"report-{a.offset}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "chinese"}))


if __name__ == "__main__":
    main()
