"""Video queries: 2-second pan-and-zoom clips over catalogue photos (some with a
spoken description as the audio track); the shown product should be in the top 5.

    python bench/video.py --index var/demo-index [--n 50]"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402
from media_common import pan_zoom_clip, speak  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.media.queries import video_query  # noqa: E402
from shopsearch.schema import Query  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--n", type=int, default=50)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    eng = Engine(a.index)
    ix = eng.index
    rng = random.Random(0)
    cache = ROOT / "var" / "bench" / "video"
    sample = rng.sample(range(len(ix.ids())), a.n)
    hits = {"frames only": 0, "frames + speech": 0, "frames + OCR": 0}
    ms = []
    ocr_words = 0
    for i in sample:
        p = ix.product(i)
        speech = speak(" ".join(x for x in (p.gender, p.colour, p.type) if x), cache / f"{p.id}.wav")
        for mode in hits:
            clip = pan_zoom_clip(Path(p.image), cache / f"{p.id}-{'speech' if 'speech' in mode else 'silent'}.mp4",
                                 audio_wav=speech if mode == "frames + speech" else None)
            t = time.perf_counter()
            text, frames = video_query(str(clip), eng.vocab, ocr=mode == "frames + OCR")
            ocr_words += len(text.split()) if mode == "frames + OCR" else 0
            res = eng.search(Query(text=text or None, images=frames, page_size=5, facets=False))
            ms.append((time.perf_counter() - t) * 1000)
            top = res.hits
            hits[mode] += any(h.id == p.id or (h.title == p.title and h.colour == p.colour) for h in top)
    out = {k: v / len(sample) for k, v in hits.items()} | {"clips": len(sample), "latency_ms_median": statistics.median(ms)}
    print(f"{len(sample)} clips: shown product in top 5 — frames only {out['frames only']:.2f}, "
          f"frames + speech {out['frames + speech']:.2f}, frames + OCR {out['frames + OCR']:.2f} "
          f"({ocr_words} words read); {out['latency_ms_median']:.0f} ms per clip (decode + search)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
