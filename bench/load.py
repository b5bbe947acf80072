"""Bounded HTTP load against /search on 127.0.0.1: a real server process, N
concurrent clients for T seconds, a mix of text queries (the dev set, English and
Chinese) and photo uploads; reports throughput, p50/p95/p99 per kind and errors.
A single client's sequential run is measured first, in the same run, as the baseline.

    python bench/load.py --index var/demo-index [--clients 20] [--seconds 30]"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import BENCH, percentiles  # noqa: E402
from server import running_server  # noqa: E402

ZH = ["男士黑色手表", "女士红色连衣裙", "蓝色牛仔裤", "白色运动鞋", "女士手提包"]


async def client(base: str, until: float, texts: list[str], photos: list[bytes], rng: random.Random,
                 out: dict[str, list[float]], errors: list[str], max_requests: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        n = 0
        while time.perf_counter() < until and n < max_requests:
            n += 1
            photo = rng.random() < 0.25
            t = time.perf_counter()
            try:
                if photo:
                    r = await c.post("/search", files={"image": ("q.jpg", rng.choice(photos), "image/jpeg")},
                                     data={"query": json.dumps({"page_size": 24})})
                else:
                    r = await c.get("/search", params={"q": rng.choice(texts), "page_size": 24})
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:100]}")
                    continue
            except httpx.HTTPError as e:
                errors.append(repr(e))
                continue
            out["photo" if photo else "text"].append((time.perf_counter() - t) * 1000)


async def load(base: str, clients: int, seconds: float, texts, photos) -> dict:
    out: dict[str, list[float]] = {"text": [], "photo": []}
    errors: list[str] = []
    t0 = time.perf_counter()
    until = t0 + seconds
    await asyncio.gather(*(client(base, until, texts, photos, random.Random(i), out, errors, 100_000)
                           for i in range(clients)))
    wall = time.perf_counter() - t0
    total = sum(len(v) for v in out.values())
    return {"clients": clients, "seconds": round(wall, 1), "requests": total, "errors": len(errors),
            "error_samples": errors[:3], "throughput_rps": round(total / wall, 1),
            **{k: percentiles(v) for k, v in out.items() if v}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    texts = [json.loads(l)["text"] for l in (BENCH / "fashion" / "dev-queries.jsonl").open() if '"text"' in l] + ZH
    from shopsearch.engine import Engine

    ix = Engine(a.index).index
    rng = random.Random(0)
    photos = [Path(ix.product(i).image).read_bytes() for i in rng.sample(range(len(ix.ids())), 50) if ix.product(i).image]
    with running_server(Path(a.index)) as base:
        base_run = asyncio.run(load(base, 1, min(10, a.seconds), texts, photos))
        run = asyncio.run(load(base, a.clients, a.seconds, texts, photos))
    for name, r in (("1 client (baseline)", base_run), (f"{a.clients} clients", run)):
        line = f"{name:<22} {r['throughput_rps']:>7.1f} req/s  errors {r['errors']}"
        for k in ("text", "photo"):
            if k in r:
                line += f"  {k} p50/p95/p99 {r[k]['p50']:.0f}/{r[k]['p95']:.0f}/{r[k]['p99']:.0f} ms"
        print(line)
    print(f"throughput ratio {run['throughput_rps'] / base_run['throughput_rps']:.2f}x the single client")
    print(json.dumps({"baseline": base_run, "load": run}))


if __name__ == "__main__":
    main()
