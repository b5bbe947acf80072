"""Ingest throughput: catalogue_hr (11,882 products, both towers) into a fresh
embedded index, timed end to end through the CLI; a text-only ingest of the same
rows (no photos) is measured in the same run as the baseline.

    python bench/ingest.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, ROOT  # noqa: E402


def run(args: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "shopsearch.cli", *args], capture_output=True, text=True, cwd=ROOT)
    if p.returncode:
        raise SystemExit(p.stderr[-2000:])
    rss = 0
    return time.perf_counter() - t, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, action="append", help="also time --workers N (repeatable)")
    a = ap.parse_args()
    cat = DATA / "catalogue_hr.csv"
    tmp = Path(tempfile.mkdtemp(prefix="shopsearch-ingest-"))
    rows = list(csv.DictReader(cat.open()))
    text_only = tmp / "text_only.csv"
    with text_only.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if not k.startswith("image")])
        w.writeheader()
        w.writerows({k: v for k, v in r.items() if not k.startswith("image")} for r in rows)
    res = {"full": [], "text_only": []} | {f"workers_{w}": [] for w in a.workers or []}
    try:
        for i in range(a.repeat):
            for name, src in (("full", cat), ("text_only", text_only)):
                idx = tmp / f"{name}-{i}"
                secs, _ = run(["ingest", str(src), "--images", str(DATA), "--index", str(idx), "-q"])
                res[name].append(secs)
            for w in a.workers or []:
                idx = tmp / f"w{w}-{i}"
                secs, _ = run(["ingest", str(cat), "--images", str(DATA), "--index", str(idx), "-q", "--workers", str(w)])
                res[f"workers_{w}"].append(secs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    full, base = sorted(res["full"])[len(res["full"]) // 2], sorted(res["text_only"])[len(res["text_only"]) // 2]
    print(f"catalogue_hr ({len(rows)} products): full ingest {full:.1f}s ({len(rows) / full:.0f} items/s), "
          f"text-only baseline {base:.1f}s, ratio {full / base:.2f}")
    for w in a.workers or []:
        t = sorted(res[f"workers_{w}"])[len(res[f"workers_{w}"]) // 2]
        print(f"  --workers {w}: {t:.1f}s ({len(rows) / t:.0f} items/s, {full / t:.2f}x the in-process ingest)")
    print(json.dumps({"products": len(rows), "full_s": round(full, 1), "text_only_s": round(base, 1)}
                     | {k: v for k, v in res.items() if k.startswith("workers")}))


if __name__ == "__main__":
    main()
