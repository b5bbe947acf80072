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
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
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
KINDS = ("text", "photo", "voice")


def spoken_queries(texts: list[str], n: int, folder: Path) -> list[bytes]:
    """WAVs of English queries spoken by espeak-ng (16 kHz mono), made once per run."""
    if not shutil.which("espeak-ng"):
        log.warning("espeak-ng is not installed: no voice queries")
        return []
    out = []
    for i, t in enumerate([t for t in texts if t.isascii()][:n]):
        wav = folder / f"q{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), t], check=True, capture_output=True)
        out.append(wav.read_bytes())
    return out


class Writer:
    """Another process's ingest and deletes in the served index while the load runs."""

    def __init__(self, index: Path, catalogue: Path | None, images: Path | None, delete: int, env: dict) -> None:
        self.index, self.catalogue, self.images, self.delete, self.env = index, catalogue, images, delete, env
        self.result: dict = {}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        cli = [sys.executable, "-m", "shopsearch.cli"]
        t0 = time.perf_counter()
        p = None
        if self.catalogue:
            p = subprocess.Popen(cli + ["ingest", str(self.catalogue), "--images", str(self.images or self.catalogue.parent),
                                        "--index", str(self.index), "-q"], env=self.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        deleted = 0
        if self.delete:
            with sqlite3.connect(self.index / "records.sqlite") as db:
                ids = [r[0] for r in db.execute("SELECT id FROM products ORDER BY rowid LIMIT ?", (self.delete,))]
            step = max(1, len(ids) // 5)
            for s in range(0, len(ids), step):
                time.sleep(2)
                r = subprocess.run(cli + ["ingest", "--delete", ",".join(ids[s: s + step]), "--index",
                                          str(self.index)], env=self.env, capture_output=True, text=True)
                deleted += int(r.stdout.split("deleted ")[1].split(" ")[0]) if r.returncode == 0 else 0
        if p is not None:
            out, err = p.communicate()
            self.result["ingest"] = out.strip().splitlines()[0] if p.returncode == 0 else f"FAILED: {err[-300:]}"
        self.result.update(deleted=deleted, seconds=round(time.perf_counter() - t0, 1))



async def client(base: str, until: float, texts: list[str], media: dict[str, list[bytes]], shares: dict[str, float],
                 rng: random.Random, out: dict[str, list[float]], errors: dict[str, list[str]]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=120) as c:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= until:
                break
            roll, kind = rng.random(), "text"
            for k, share in shares.items():
                if media.get(k) and roll < share:
                    kind = k
                    break
                roll -= share
            t = time.perf_counter()
            try:
                if kind == "photo":
                    r = await c.post("/search", files={"image": ("q.jpg", rng.choice(media["photo"]), "image/jpeg")},
                                     data={"query": json.dumps({"page_size": 24})})
                elif kind == "voice":
                    r = await c.post("/search", files={"audio": ("q.wav", rng.choice(media["voice"]), "audio/wav")},
                                     data={"query": json.dumps({"page_size": 24})})
                else:
                    r = await c.get("/search", params={"q": rng.choice(texts), "page_size": 24})
                if r.status_code == 429:  # shed by the server (busy transcribing): a fast, clear answer
                    out[f"{kind}_shed"].append((time.perf_counter() - t) * 1000)
                    continue
                if r.status_code != 200:
                    errors[kind].append(f"{r.status_code} {r.text[:100]}")
                    continue
            except httpx.HTTPError as e:
                errors[kind].append(repr(e))
                continue
            out[kind].append((time.perf_counter() - t) * 1000)


async def load(base: str, clients: int, seconds: float, texts: list[str], media: dict[str, list[bytes]],
               shares: dict[str, float]) -> dict:
    out: dict[str, list[float]] = {k: [] for k in KINDS} | {f"{k}_shed": [] for k in KINDS}
    errors: dict[str, list[str]] = {k: [] for k in KINDS}
    t0 = time.perf_counter()
    await asyncio.gather(*(client(base, t0 + seconds, texts, media, shares, random.Random(i), out, errors)
                           for i in range(clients)))
    wall = time.perf_counter() - t0
    shed = {k: len(out.pop(f"{k}_shed")) for k in KINDS}
    total = sum(len(v) for v in out.values())
    res: dict = {"clients": clients, "seconds": round(wall, 1), "requests": total,
                 "errors": sum(len(v) for v in errors.values()),
                 "error_samples": [e for v in errors.values() for e in v][:3],
                 "throughput_rps": round(total / wall, 1), "shed_429": shed}
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
    head = (f"{'run':<22} {'kind':<6} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
            f"{'errors':>6} {'429':>5}")
    lines = [head, "-" * len(head)]
    for name, r in rows:
        for k in KINDS:
            if k in r and r[k]["n"]:
                m = r[k]
                lines.append(f"{name:<22} {k:<6} {m['n']:>8} {m['rps']:>7.1f} {m['p50']:>7.0f} {m['p95']:>7.0f} "
                             f"{m['p99']:>7.0f} {m['errors']:>6} {r.get('shed_429', {}).get(k, 0):>5}")
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
    ap.add_argument("--voice-share", type=float, default=0.0, help="share of requests that upload a spoken query")
    ap.add_argument("--ingest", type=Path, help="a catalogue another process ingests into the index during the load")
    ap.add_argument("--ingest-images", type=Path, help="its images folder")
    ap.add_argument("--delete", type=int, default=0, help="ids another process deletes during the load")
    ap.add_argument("--copy", action="store_true", help="serve a copy of --index (writes then leave it as it was)")
    ap.add_argument("--image-model", help="sets SHOPSEARCH_IMAGE_MODEL for the server")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not 1 <= a.clients <= 200 or not 0 < a.seconds <= 600:
        ap.error("keep the load bounded: 1-200 clients, at most 600 s")
    texts = [json.loads(line)["text"] for line in (BENCH / "fashion" / "dev-queries.jsonl").open(encoding="utf-8")
             if '"text"' in line] + ZH
    env = {"SHOPSEARCH_IMAGE_MODEL": str(Path(a.image_model).resolve())} if a.image_model else {}
    with tempfile.TemporaryDirectory(prefix="shopsearch-load-") as tmp:
        index = Path(a.index).resolve()
        if a.copy:
            index = Path(tmp) / "index"
            shutil.copytree(a.index, index, ignore=shutil.ignore_patterns("events.sqlite*"))
        with running_server(index, env or None) as base:
            assert base.startswith("http://127.0.0.1:"), base  # loopback only
            media = {"photo": catalogue_photos(base, texts, 50, random.Random(0)) if a.photo_share > 0 else [],
                     "voice": spoken_queries(texts, 12, Path(tmp)) if a.voice_share > 0 else []}
            shares = {"photo": a.photo_share, "voice": a.voice_share}
            log.info("server %s; %d text queries, %d photos, %d spoken queries", base, len(texts), len(media["photo"]),
                     len(media["voice"]))
            runs = []
            if a.baseline_seconds > 0:
                runs.append(("1 client (baseline)", asyncio.run(load(base, 1, a.baseline_seconds, texts, media, shares))))
            writer = None
            if a.ingest or a.delete:
                writer = Writer(index, a.ingest, a.ingest_images, a.delete, {**os.environ, **env})
                writer.thread.start()
            name = f"{a.clients} clients" + (" + writes" if writer else "")
            runs.append((name, asyncio.run(load(base, a.clients, a.seconds, texts, media, shares))))
            if writer is not None:
                writer.thread.join()
                health = httpx.get(f"{base}/health", timeout=60).json()
                runs[-1][1]["writes"] = {**writer.result, "products_after": health["products"]}
                log.info("writes during the load: %s", runs[-1][1]["writes"])
    print(table(runs))
    if len(runs) == 2:
        print(f"throughput {runs[1][1]['throughput_rps'] / max(runs[0][1]['throughput_rps'], 1e-9):.2f}x "
              "the single client")
    out = {"index": str(a.index), **({"baseline": runs[0][1]} if len(runs) == 2 else {}), "load": runs[-1][1]}
    print(json.dumps(out))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=2))
    errors = sum(r["errors"] for _, r in runs)
    if errors:
        log.error("%d requests failed, e.g. %s", errors, runs[-1][1]["error_samples"] or runs[0][1]["error_samples"])
        sys.exit(1)


if __name__ == "__main__":
    main()
