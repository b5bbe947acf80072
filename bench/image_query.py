"""Photo queries: a larger photo of a catalogue product, randomly cropped, rotated
and recompressed, should find that product (or a listing with the same title,
type and colour) at rank 1. Also reports photo-query latency.

    python bench/image_query.py --index var/demo-index [--n 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, percentiles, timed  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.schema import Query  # noqa: E402


def distort(path: Path, rng: random.Random) -> Image.Image:
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = rng.uniform(0.8, 0.95)
    cw, ch = int(w * s), int(h * s)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    img = img.crop((x, y, x + cw, y + ch)).rotate(rng.uniform(-8, 8), resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=rng.randint(50, 85))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from shopsearch.settings import Settings

    s = Settings(**({"image_model": a.model} if a.model else {}))
    eng = Engine(a.index, settings=s)
    eng.warm_up()
    ix = eng.index
    rng = random.Random(a.seed)
    ids = [i for i in ix.ids() if ix.product(ix.position(i)).image]
    sample = rng.sample(ids, min(a.n, len(ids)))
    exact = same = 0
    ms = []
    for pid in sample:
        p = ix.product(ix.position(pid))
        img = distort(Path(p.image), rng)
        res, t = timed(eng.search, Query(images=[img], page_size=10, facets=False))
        ms.append(t)
        top = res.hits[0]
        exact += top.id == pid
        same += top.id == pid or (top.title == p.title and top.type == p.type and top.colour == p.colour)
    out = {"queries": len(sample), "rank1_exact": exact / len(sample), "rank1_same_listing": same / len(sample),
           "latency_ms": percentiles(ms), "peak_rss_mib": round(peak_rss_mib())}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
