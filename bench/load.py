"""Bounded HTTP load against /search on 127.0.0.1: a real server process, N
concurrent clients for T seconds, a mix of text queries (the dev set, English and
Chinese) and photo uploads of catalogue products; reports throughput, p50/p95/p99
per kind and errors. A single client's sequential run is measured first, in the same
run, as the baseline. Loopback only; stops by itself (time and request caps).

    SHOPSEARCH_IMAGE_MODEL=/path/model python bench/load.py --index var/demo-index \\
        [--clients 20] [--seconds 30] [--json out.json]

Exits 1 if any request failed."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import BENCH, percentiles  # noqa: E402
from server import running_server  # noqa: E402

log = logging.getLogger("bench.load")
ZH = ["男士黑色手表", "女士红色连衣裙", "蓝色牛仔裤", "白色运动鞋", "女士手提包"]
MAX_REQUESTS_PER_CLIENT = 20_000  # a hard cap beside the time limit


async def client(base: str, until: float, texts: list[str], photos: list[bytes], photo_share: float,
                 rng: random.Random, out: dict[str, list[float]], errors: dict[str, list[str]]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= until:
                break
            kind = "photo" if photos and rng.random() < photo_share else "text"
            t = time.perf_counter()
            try:
                if kind == "photo":
                    r = await c.post("/search", files={"image": ("q.jpg", rng.choice(photos), "image/jpeg")},
                                     data={"query": json.dumps({"page_size": 24})})
                else:
                    r = await c.get("/search", params={"q": rng.choice(texts), "page_size": 24})
                if r.status_code != 200:
                    errors[kind].append(f"{r.status_code} {r.text[:100]}")
                    continue
            except httpx.HTTPError as e:
                errors[kind].append(repr(e))
                continue
            out[kind].append((time.perf_counter() - t) * 1000)


async def load(base: str, clients: int, seconds: float, texts: list[str], photos: list[bytes],
               photo_share: float) -> dict:
    out: dict[str, list[float]] = {"text": [], "photo": []}
    errors: dict[str, list[str]] = {"text": [], "photo": []}
    t0 = time.perf_counter()
    await asyncio.gather(*(client(base, t0 + seconds, texts, photos, photo_share, random.Random(i), out, errors)
                           for i in range(clients)))
    wall = time.perf_counter() - t0
    total = sum(len(v) for v in out.values())
    res: dict = {"clients": clients, "seconds": round(wall, 1), "requests": total,
                 "errors": sum(len(v) for v in errors.values()),
                 "error_samples": [e for v in errors.values() for e in v][:3],
                 "throughput_rps": round(total / wall, 1)}
    for k, v in out.items():
        if v or errors[k]:
            res[k] = {**({kk: round(vv, 1) for kk, vv in percentiles(v).items()} if v else {"n": 0}),
                      "errors": len(errors[k]), "rps": round(len(v) / wall, 1)}
    return res


def catalogue_photos(base: str, texts: list[str], n: int, rng: random.Random) -> list[bytes]:
    """Photos of catalogue products, fetched from the server itself (top hits of
    some dev queries), so the bench needs no engine of its own."""
    ids: list[str] = []
    with httpx.Client(base_url=base, timeout=60) as c:
        for q in rng.sample(texts, min(len(texts), 40)):
            ids += [h["id"] for h in c.get("/search", params={"q": q, "page_size": 5}).json()["hits"]
                    if h.get("image_url")]
        ids = list(dict.fromkeys(ids))
        return [c.get(f"/images/{i}").content for i in rng.sample(ids, min(n, len(ids)))]


def table(rows: list[tuple[str, dict]]) -> str:
    head = f"{'run':<22} {'kind':<6} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6}"
    lines = [head, "-" * len(head)]
    for name, r in rows:
        for k in ("text", "photo"):
            if k in r and r[k]["n"]:
                m = r[k]
                lines.append(f"{name:<22} {k:<6} {m['n']:>8} {m['rps']:>7.1f} {m['p50']:>7.0f} {m['p95']:>7.0f} "
                             f"{m['p99']:>7.0f} {m['errors']:>6}")
        lines.append(f"{name:<22} {'all':<6} {r['requests']:>8} {r['throughput_rps']:>7.1f} {'':>7} {'':>7} {'':>7} "
                     f"{r['errors']:>6}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--baseline-seconds", type=float, default=10, help="single-client run first; 0 skips it")
    ap.add_argument("--photo-share", type=float, default=0.25, help="share of requests that upload a photo")
    ap.add_argument("--image-model", help="sets SHOPSEARCH_IMAGE_MODEL for the server")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not 1 <= a.clients <= 200 or not 0 < a.seconds <= 600:
        ap.error("keep the load bounded: 1-200 clients, at most 600 s")
    texts = [json.loads(line)["text"] for line in (BENCH / "fashion" / "dev-queries.jsonl").open(encoding="utf-8")
             if '"text"' in line] + ZH
    env = {"SHOPSEARCH_IMAGE_MODEL": str(Path(a.image_model).resolve())} if a.image_model else None
    with running_server(Path(a.index), env) as base:
        assert base.startswith("http://127.0.0.1:"), base  # loopback only
        photos = catalogue_photos(base, texts, 50, random.Random(0)) if a.photo_share > 0 else []
        log.info("server %s; %d text queries, %d photos", base, len(texts), len(photos))
        runs = []
        if a.baseline_seconds > 0:
            runs.append(("1 client (baseline)", asyncio.run(load(base, 1, a.baseline_seconds, texts, photos,
                                                                 a.photo_share))))
        runs.append((f"{a.clients} clients", asyncio.run(load(base, a.clients, a.seconds, texts, photos,
                                                              a.photo_share))))
    print(table(runs))
    if len(runs) == 2:
        print(f"throughput {runs[1][1]['throughput_rps'] / max(runs[0][1]['throughput_rps'], 1e-9):.2f}x "
              "the single client")
    out = {"index": str(a.index), **({"baseline": runs[0][1]} if len(runs) == 2 else {}), "load": runs[-1][1]}
    print(json.dumps(out))
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))
    errors = sum(r["errors"] for _, r in runs)
    if errors:
        log.error("%d requests failed, e.g. %s", errors, runs[-1][1]["error_samples"] or runs[0][1]["error_samples"])
        sys.exit(1)


if __name__ == "__main__":
    main()
