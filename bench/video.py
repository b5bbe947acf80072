"""Video queries: 2.5-second pan-and-zoom clips over catalogue photos, silent or with a
spoken description ("men black watches", espeak-ng) as the audio track; the shown
product should come back in the top 5. Measured with and without OCR of the frames
and with and without the audio track; latency per clip covers decoding, speech,
OCR and search. "staged" clips are harder: the photo shrunk, tilted and re-lit on a
cluttered background, as if filmed off a screen or a shelf.

    python bench/video.py --index var/hr [--n 60]"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402
from media_common import pan_zoom_clip, speak  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.media.queries import video_query  # noqa: E402
from shopsearch.schema import Query  # noqa: E402

CACHE = ROOT / "var" / "bench" / "video"
MODES = {"frames": (False, False), "frames + speech": (True, False), "frames + OCR": (False, True),
         "frames + speech + OCR": (True, True)}
STAGED_MODES = {"staged frames": (False, False), "staged frames + speech": (True, False)}


def staged(photo: Path, out: Path, rng: random.Random) -> Path:
    """The product photo shrunk, tilted and re-lit on a noisy coloured background."""
    from PIL import Image, ImageEnhance

    if out.exists():
        return out
    img = Image.open(photo).convert("RGB")
    w, h = img.size
    bg = (np.random.default_rng(rng.randrange(1 << 30)).integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8))
    canvas = Image.fromarray(bg).resize((w, h), Image.BICUBIC)
    canvas = Image.blend(canvas, Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3))), 0.5)
    scale = rng.uniform(0.55, 0.75)
    small = img.resize((int(w * scale), int(h * scale))).rotate(rng.uniform(-10, 10), expand=False,
                                                               fillcolor=(255, 255, 255))
    small = ImageEnhance.Brightness(small).enhance(rng.uniform(0.75, 1.2))
    canvas.paste(small, (rng.randrange(w - small.width + 1), rng.randrange(h - small.height + 1)))
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, quality=90)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/hr")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    eng = Engine(a.index)
    ix = eng.index
    n_products = len(ix.ids())
    rng = random.Random(a.seed)
    picks = [p for p in (ix.product(i) for i in rng.sample(range(n_products), 3 * a.n)) if p.image][: a.n]
    all_modes = MODES | STAGED_MODES
    top5 = {m: 0 for m in all_modes}
    exact = {m: 0 for m in all_modes}
    ms: dict[str, list[float]] = {m: [] for m in all_modes}
    frames_n: list[int] = []
    ocr_text: list[str] = []
    transcripts_ok = 0
    for p in picks:
        said = " ".join(x for x in (p.gender, p.colour, p.type) if x).lower()
        wav = speak(said, CACHE / f"{p.id}.wav")
        clips: dict = {False: pan_zoom_clip(Path(p.image), CACHE / f"{p.id}-silent.mp4", seconds=2.5),
                 True: pan_zoom_clip(Path(p.image), CACHE / f"{p.id}-speech.mp4", seconds=2.5, audio_wav=wav)}
        photo = staged(Path(p.image), CACHE / f"{p.id}-staged.jpg", rng)
        clips |= {("staged", False): pan_zoom_clip(photo, CACHE / f"{p.id}-staged-silent.mp4", seconds=2.5),
                  ("staged", True): pan_zoom_clip(photo, CACHE / f"{p.id}-staged-speech.mp4", seconds=2.5,
                                                  audio_wav=wav)}
        for mode, (speech, ocr) in (MODES | STAGED_MODES).items():
            t = time.perf_counter()
            clip = clips[("staged", speech)] if mode.startswith("staged") else clips[speech]
            text, frames = video_query(str(clip), eng.vocab, ocr=ocr)
            res = eng.search(Query(text=text or None, images=frames, page_size=5, facets=False))
            ms[mode].append((time.perf_counter() - t) * 1000)
            ids = [h.id for h in res.hits]
            exact[mode] += p.id in ids
            # a catalogue listing repeated under another id (same title and colour) counts as found
            top5[mode] += p.id in ids or any(h.title == p.title and h.colour == p.colour for h in res.hits)
            if mode == "frames":
                frames_n.append(len(frames))
            if mode == "frames + speech":
                transcripts_ok += all(w in text.split() for w in said.split()[:2])
            if mode == "frames + OCR" and text:
                ocr_text.append(f"{p.id}: {text}")
    n = len(picks)
    out = {"clips": n, "products": n_products, "frames_median": statistics.median(frames_n),
           "transcripts_with_first_two_words": transcripts_ok / n, "ocr_clips_with_text": len(ocr_text),
           "modes": {m: {"top5": round(top5[m] / n, 3), "top5_exact_id": round(exact[m] / n, 3),
                         "ms_median": round(statistics.median(ms[m]))} for m in all_modes}}
    for m, r in out["modes"].items():
        print(f"{m:24s} shown product in top 5: {r['top5']:.3f} (exact id {r['top5_exact_id']:.3f}); "
              f"{r['ms_median']} ms per clip (median)")
    print(f"{n} clips of {n_products} products; {out['frames_median']} frames per clip (median); "
          f"OCR read text in {len(ocr_text)} clips: {ocr_text[:6]}")
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "report.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
