"""Spoken queries: espeak-ng reads dev text queries in several voices and speeds, optionally
with pink or white noise mixed in at a given SNR (WAVs cached under var/bench/voice);
each recogniser transcribes them once and the transcript is scored three ways:
"raw-best" (the best hypothesis, only lower-cased), "before" (the best hypothesis
with every unknown word spelling-corrected, the correction this replaced) and
"adapted" (shopsearch.media.voice.correct: n-best + word probabilities + catalogue
language model). Reports word error rate, median milliseconds per clip (recognition
and correction) and nDCG@10 of spoken vs typed queries, per voice x speed x noise.
Then a few Chinese clips (espeak-ng pinyin voice) through the multilingual model.

    python bench/voice.py --index var/hr [--n 60] [--offset 3] [--models tiny.en base]
        [--voices en-us en-gb] [--speeds 140 180] [--snr none 20] [--tune] [--reuse]

The dev-t queries are cut into 5 interleaved slices of 60 (--offset 0..4). The first
adaptation (prompt, hotwords) was tuned on offset 0; the correction's thresholds on
offset 1 (--tune: decode once, grid-search voice_sure, voice_lm_weight, voice_temperature,
voice_word_bonus and voice_spell_penalty for the best mean spoken/typed nDCG); figures are reported on
offset 3, which neither saw. What each model heard is saved under var/bench/voice/heard;
--reuse scores it again (with its recorded timings) without decoding, e.g. after changing
the correction. --ablation adds the old prompt-only and raw runs."""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
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
from media_common import add_noise, speak  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.eval.metrics import evaluate_run, load_qrels  # noqa: E402
from shopsearch.eval.runner import load_queries, to_query  # noqa: E402
from shopsearch.media.audio import decode_audio  # noqa: E402
from shopsearch.media.voice import clean, correct, finish, listen, transcribe_samples, words_of  # noqa: E402
from shopsearch.query.parser import parse  # noqa: E402
from shopsearch.settings import Settings, get_settings  # noqa: E402

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


def before(text: str, vocab: Any) -> str:
    """The correction this bench measured before n-best rescoring: every word of 4+ letters
    the catalogue does not know replaced by its nearest catalogue word."""
    ws = [w for w, _ in words_of(text, vocab)]
    return finish([(vocab.correct(w) or w) if w.isalpha() and len(w) > 3 else w for w in ws])


def with_lengths(h: Any, model: str) -> Any:
    """Transcripts saved before Heard kept token counts: count them again (the same tokenizer)."""
    if h.lengths or not h.texts:
        return h
    from dataclasses import replace

    from shopsearch.media.voice import load

    tok = load(model).hf_tokenizer
    return replace(h, lengths=tuple(len(tok.encode(" " + t, add_special_tokens=False).ids) for t in h.texts))


def clip(q: dict[str, Any], voice: str, speed: int, snr: str, colour: str) -> np.ndarray:
    """The spoken query as 16 kHz samples, noise mixed in unless snr is "none"."""
    s = decode_audio(str(speak(q["text"], CACHE / f"{voice}-{speed}" / f"{q['qid']}.wav", voice=voice, speed=speed)))
    return s if snr == "none" else add_noise(s, float(snr), colour, seed=f"{q['qid']}-{voice}-{speed}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/hr")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--offset", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["tiny.en"])
    ap.add_argument("--voices", nargs="+", default=["en-us"])
    ap.add_argument("--speeds", nargs="+", type=int, default=[150])
    ap.add_argument("--snr", nargs="+", default=["none"], help='"none" or dB, e.g. --snr none 20')
    ap.add_argument("--noise-colour", default="pink", choices=["pink", "white"])
    ap.add_argument("--reuse", action="store_true", help="reuse transcripts (and their timings) saved by a run")
    ap.add_argument("--tune", action="store_true", help="grid-search the correction settings on this slice")
    ap.add_argument("--ablation", action="store_true", help="also raw and prompt-only runs (en-us 150 only)")
    ap.add_argument("--no-chinese", action="store_true")
    ap.add_argument("--out", default=None, help="report file (default var/bench/voice/report-<offset>.json)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    eng = Engine(a.index)
    vocab = eng.vocab
    qs = [q for q in load_queries(BENCH / "fashion" / "dev-queries.jsonl") if q["qid"].startswith("dev-t")]
    step = max(1, len(qs) // a.n)
    qs = qs[a.offset::step][: a.n]
    qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
    ranked: dict[tuple[str, str], list[str]] = {}

    def ndcg(texts: dict[str, str]) -> float:
        run = {}
        for q in qs:
            key = (q["qid"], texts[q["qid"]])
            if key not in ranked:
                ranked[key] = [h.id for h in eng.search(to_query(dict(q, text=texts[q["qid"]]), 100)).hits]
            run[q["qid"]] = ranked[key]
        return evaluate_run(run, qrels)["all"]["ndcg@10"]

    typed = ndcg({q["qid"]: q["text"] for q in qs})
    report: dict[str, Any] = {"clips": len(qs), "offset": a.offset, "typed_ndcg": typed, "noise": a.noise_colour,
                              "load_average_at_start": os.getloadavg(), "cpus": os.cpu_count(),
                              "settings": {k: v for k, v in get_settings().model_dump().items()
                                           if k.startswith("voice_")}, "models": {}}
    conditions = [(v, sp, snr) for v in a.voices for sp in a.speeds for snr in a.snr]

    def score(name: str, heard: dict[str, str]) -> dict[str, float]:
        w = statistics.mean(wer(q["text"], heard[q["qid"]]) for q in qs)
        nd = ndcg(heard)
        return {"wer": round(w, 3), "ndcg": round(nd, 4), "ratio": round(nd / typed, 3)}

    for name in [m for m in a.models if m != "sphinx"]:
        transcribe_samples(clip(qs[0], "en-us", 150, "none", a.noise_colour), vocab, model_name=name)  # load, warm up
        rows, saved = {}, {}
        for voice, speed, snr in conditions:
            cond = f"{voice} {speed} wpm " + ("clean" if snr == "none" else f"{a.noise_colour} {snr} dB")
            heard, out, ms = {}, {}, []
            store = CACHE / "heard" / f"{name}-{voice}-{speed}-{snr}-{a.noise_colour}-{a.offset}-{a.n}.pkl"
            if a.reuse and store.is_file():  # what was heard before, and how long it took then
                heard, listen_ms = pickle.loads(store.read_bytes())
                heard = {k: with_lengths(h, name) for k, h in heard.items()}
            else:
                listen_ms = {}
                for q in qs:
                    s = clip(q, voice, speed, snr, a.noise_colour)
                    t = time.perf_counter()
                    heard[q["qid"]] = listen(s, vocab, model_name=name)
                    listen_ms[q["qid"]] = (time.perf_counter() - t) * 1000
                store.parent.mkdir(parents=True, exist_ok=True)
                store.write_bytes(pickle.dumps((heard, listen_ms)))
            for q in qs:
                t = time.perf_counter()
                out[q["qid"]] = correct(heard[q["qid"]], vocab)
                ms.append(listen_ms[q["qid"]] + (time.perf_counter() - t) * 1000)
            saved[cond] = heard
            row = {"raw-best": score(name, {k: " ".join(w for w, _ in words_of(h.text)) for k, h in heard.items()}),
                   "before": score(name, {k: before(h.text, vocab) for k, h in heard.items()}),
                   "adapted": score(name, out),
                   "ms_median": round(statistics.median(ms)), "ms_p95": round(sorted(ms)[int(0.95 * (len(ms) - 1))])}
            rows[cond] = row
            print(f"{name:8s} {cond:34s} before WER {row['before']['wer']:.3f} {row['before']['ratio']:.1%}  "
                  f"adapted WER {row['adapted']['wer']:.3f} {row['adapted']['ratio']:.1%} of typed  "
                  f"{row['ms_median']} ms/clip (p95 {row['ms_p95']})", flush=True)
            bad = [(q["text"], out[q["qid"]]) for q in qs if wer(q["text"], out[q["qid"]]) > 0]
            log.info("  misheard (%d): %s", len(bad), bad[:12])
        if rows:
            mean = {m: round(statistics.mean(r[m]["ratio"] for r in rows.values()), 3)
                    for m in ("raw-best", "before", "adapted")}
            worst = min(r["adapted"]["ratio"] for r in rows.values())
            print(f"{name:8s} mean of {len(rows)} conditions: % of typed {mean}; worst adapted {worst:.1%}; "
                  f"median ms {statistics.median(r['ms_median'] for r in rows.values())}", flush=True)
            rows["mean"] = {"ratio": mean, "worst_adapted": worst}
        report["models"][name] = rows
        if a.tune:
            report.setdefault("tuning", {})[name] = tune(saved, qs, vocab, ndcg, typed)
    if a.ablation:
        report["ablation"] = ablation(qs, vocab, a.models, ndcg, typed)
    report["load_average_at_end"] = os.getloadavg()
    print(f"typed nDCG@10 {typed:.4f} over {len(qs)} dev queries (offset {a.offset}); load average "
          f"{report['load_average_at_start'][0]:.1f} at start, {report['load_average_at_end'][0]:.1f} at end "
          f"on {os.cpu_count()} cores (timings are per clip on this shared machine)")

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
    path = Path(a.out) if a.out else CACHE / f"report-{a.offset}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(f"report: {path}")


def tune(saved: dict[str, dict[str, Any]], qs: list[dict[str, Any]], vocab: Any, ndcg: Callable, typed: float
         ) -> dict[str, Any]:
    """Grid search of the correction settings on what was heard (no decoding again):
    the best mean spoken/typed nDCG over all conditions, ties to lower WER. (voice_sure
    0 changes no word; 1.01 lets every word change, as if no probabilities were known.)"""
    results = []
    grid = [(sure, lm_weight, temperature, bonus, spell) for sure in (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
            for lm_weight in (0.25, 0.5, 1.0) for temperature in (1.0, 2.0) for bonus in (1.0, 2.0, 3.0, 4.0)
            for spell in (1.0, 3.0)]
    for sure, lm_weight, temperature, bonus, spell in grid:
        st = Settings(voice_sure=sure, voice_lm_weight=lm_weight, voice_temperature=temperature,
                      voice_word_bonus=bonus, voice_spell_penalty=spell)
        ratios, wers = [], []
        for heard in saved.values():
            out = {k: correct(h, vocab, st) for k, h in heard.items()}
            ratios.append(ndcg(out) / typed)
            wers.append(statistics.mean(wer(q["text"], out[q["qid"]]) for q in qs))
        results.append({"sure": sure, "lm_weight": lm_weight, "temperature": temperature, "bonus": bonus,
                        "spell_penalty": spell,
                        "ratio": round(statistics.mean(ratios), 4), "worst": round(min(ratios), 4),
                        "wer": round(statistics.mean(wers), 4)})
    results.sort(key=lambda r: (-r["ratio"], r["wer"]))
    for r in results[:10]:
        print("  tune", r, flush=True)
    per_sure = {str(x): next(r for r in results if r["sure"] == x) for x in sorted({r["sure"] for r in results})}
    for x, r in per_sure.items():
        print(f"  best with voice_sure {x}: {r}", flush=True)
    return {"best": results[0], "best_per_sure": per_sure, "all": results}


def ablation(qs: list[dict[str, Any]], vocab: Any, models: list[str], ndcg: Callable, typed: float) -> dict:
    """The earlier modes on en-us 150 wpm: no adaptation, prompt + cleaning, and sphinx."""
    audio = {q["qid"]: clip(q, "en-us", 150, "none", "pink") for q in qs}
    recognisers: dict[str, dict[str, Callable[[np.ndarray], str]]] = {}
    for name in models:
        if name == "sphinx":
            sp = sphinx(vocab)
            if sp:
                recognisers["sphinx"] = {"raw": sp["sphinx"], "grammar": sp["sphinx-grammar"],
                                         "grammar+clean": lambda s, f=sp["sphinx-grammar"]: clean(f(s), vocab)}
            continue
        recognisers[name] = {
            "raw": lambda s, n=name: transcribe_samples(s, vocab, adapt=False, model_name=n),
            "prompt+clean": lambda s, n=name: transcribe_samples(s, vocab, model_name=n, hotwords=False),
        }
    out: dict[str, Any] = {}
    for name, modes in recognisers.items():
        for mode, fn in modes.items():
            heard = {q["qid"]: fn(audio[q["qid"]]) for q in qs}
            w = statistics.mean(wer(q["text"], heard[q["qid"]]) for q in qs)
            nd = ndcg(heard)
            out[f"{name} {mode}"] = {"wer": round(w, 3), "ratio": round(nd / typed, 3)}
            print(f"{name:8s} {mode:14s} WER {w:.3f}  {nd / typed:.1%} of typed", flush=True)
    return out


if __name__ == "__main__":
    main()
