""""More like this": precision@10 of look-alikes that share the product's type and
colour family, over a random sample of the demo index.

    python bench/similar.py --index var/demo-index [--n 300]"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentiles, timed  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.query.tables import colour_families as families  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--n", type=int, default=300)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    eng = Engine(a.index)
    eng.warm_up()
    ix = eng.index
    rng = random.Random(0)
    sample = rng.sample(ix.ids(), min(a.n, len(ix.ids())))
    p_type = p_both = 0.0
    ms = []
    for pid in sample:
        p = ix.product(ix.position(pid))
        res, t = timed(eng.similar, pid, 10)
        ms.append(t)
        fam = families(p.colour)
        p_type += sum(h.type == p.type for h in res.hits) / 10
        p_both += sum(h.type == p.type and bool(families(h.colour) & fam) for h in res.hits) / 10
    n = len(sample)
    out = {"products": n, "precision@10_type": p_type / n, "precision@10_type_and_colour_family": p_both / n,
           "latency_ms": percentiles(ms)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
