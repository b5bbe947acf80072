"""Which features make the visual vector: the distorted-photo test of
`bench/image_query.py` (same photos, same distortions) scored for several
choices of the photo-to-photo vector, without building an index per choice.

    python bench/visual.py --index var/demo-index [--n 300] [--seed 0]

Candidates: the served model's own trunk (fine-tuned) and the frozen ImageNet
trunk at several input sizes; raw 1280-d features or PCA (fitted on the index's
training photos, id % 5 != 0); colour histogram weights. Each is scored the way
the engine scores a photo query: the visual channel (weight 1.0) plus the aligned
vector against product photos (0.5) and product text (0.3), each min-max scaled
over the union of the channels' top 1,000, summed. Rank 1 counts when it is the
product or a listing with the same title, type and colour."""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_query import distort  # noqa: E402

from shopsearch.encoders.base import l2n  # noqa: E402
from shopsearch.encoders.photo import HIST_DIM, TRUNK_DIM  # noqa: E402
from shopsearch.encoders.trunk import Trunk  # noqa: E402
from shopsearch.engine import Engine  # noqa: E402
from shopsearch.settings import get_settings  # noqa: E402


def rank1(queries: dict[str, np.ndarray], catalogue: dict[str, np.ndarray], weights: dict[str, float],
          truth: np.ndarray, key: list) -> float:
    """Share of queries whose fused top hit is the product or the same listing."""
    ok = 0
    for j, want in enumerate(truth):
        sims = {k: catalogue[k] @ queries[k][j] for k in weights}
        pool = np.unique(np.concatenate([np.argpartition(-s, 1000)[:1000] for s in sims.values()]))
        total = np.zeros(len(pool))
        for k, w in weights.items():
            s = sims[k][pool]
            total += w * (s - s.min()) / max(float(s.max() - s.min()), 1e-9)
        best = int(pool[total.argmax()])
        ok += best == want or key[best] == key[want]
    return ok / len(truth)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", nargs="+", default=["144x192", "120x160", "96x128"], help="frozen trunk inputs, WxH")
    ap.add_argument("--pca", type=int, nargs="+", default=[0, 128, 256], help="0: the raw 1280-d features")
    ap.add_argument("--alpha", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    s = get_settings()
    eng = Engine(a.index)
    eng.warm_up()
    ix, tower = eng.index, eng.encoder.image
    n = len(ix.ids())
    prods = [ix.product(i) for i in range(n)]
    rng = random.Random(a.seed)  # the same draws as bench/image_query.py
    sample = rng.sample([i for i in ix.ids() if ix.product(ix.position(i)).image], min(a.n, n))
    photos = [distort(Path(ix.product(ix.position(pid)).image), rng) for pid in sample]
    truth = np.array([ix.position(pid) for pid in sample])
    key = [(p.title, p.type, p.colour) for p in prods]
    train = np.array([not (p.id.isdigit() and int(p.id) % 5 == 0) for p in prods])
    paths = [p.image for p in prods]
    aligned_q = tower.encode_image_both(photos)[0]
    shared = {"photo_image": np.stack([ix.vector(i, "image") for i in range(n)]),
              "photo_text": np.stack([ix.vector(i, "text") for i in range(n)])}
    weights = {"visual": 1.0, "photo_image": s.weight_photo_image, "photo_text": s.weight_photo_text}

    trunks = {"fine-tuned (own)": tower.trunk} if tower.trunk.key.startswith("ft-") else {}
    for size in a.sizes:
        w, h = (int(x) for x in size.split("x"))
        trunks[f"frozen {size}"] = Trunk(s, size=(w, h))
    out = {"queries": len(sample), "served": rank1({"visual": eng.encoder.image.encode_image_both(photos)[1]} |
                                                  {k: aligned_q for k in shared},
                                                  {"visual": np.stack([ix.vector(i, "visual") for i in range(n)])}
                                                  | shared, weights, truth, key)}
    for name, trunk in trunks.items():
        cf, ch = trunk.features(paths, "avg", "rgb")
        qf, qh = trunk.features(photos, "avg", "rgb")
        g, qg = l2n(cf[:, :TRUNK_DIM]), l2n(qf[:, :TRUNK_DIM])
        for d in a.pca:
            if d:
                mean = g[train].mean(0)
                _, _, vt = np.linalg.svd(g[train][:20000] - mean, full_matrices=False)
                z, qz = l2n((g - mean) @ vt[:d].T), l2n((qg - mean) @ vt[:d].T)
            else:
                z, qz = g, qg
            for alpha in a.alpha:
                cat = l2n(np.concatenate([z, alpha * ch[:, :HIST_DIM]], 1))
                qv = l2n(np.concatenate([qz, alpha * qh[:, :HIST_DIM]], 1))
                r = rank1({"visual": qv} | {k: aligned_q for k in shared}, {"visual": cat} | shared, weights, truth, key)
                label = f"{name}, {'raw' if not d else f'pca {d}'}, alpha {alpha:g}"
                out[label] = round(r, 4)
                print(f"{label:<45} {r:.3f}", flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
