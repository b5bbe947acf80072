"""Crash safety, measured: kill -9 an ingest at random points and resume it, and
kill -9 concurrent event writers, then check nothing was lost or doubled.

Ingest: each run starts from an empty index and a catalogue of real fashion rows
plus known bad rows; the ingest is killed (SIGKILL, no clean-up) 1-3 times at
random moments, then run to completion. The index must then hold exactly the good
rows, no duplicates, pass `PRAGMA integrity_check` and the index's own verify(),
and answer a search.

Events: several processes write events at once into one SQLite store, each
printing an event's key only after `record()` returned (the API's 201); some are
killed at random. Every acknowledged event must be in the store, exactly once.

    python bench/crash.py --runs 10 --rows 1500 --event-runs 10
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DATA, ROOT

log = logging.getLogger("bench.crash")
CLI = [sys.executable, "-m", "shopsearch.cli"]


def catalogue(folder: Path, n: int) -> tuple[Path, set[str]]:
    """n real rows with photos, then bad rows at known places; returns the good ids."""
    with (DATA / "catalogue_hr.csv").open(encoding="utf-8") as f:
        rows = [r for _, r in zip(range(n), csv.DictReader(f))]
    bad = [dict(rows[0], id=""), dict(rows[1], id="bad-photo", image_hr="images_224sq/none.jpg"), dict(rows[2])]
    out = rows[: n // 2] + bad + rows[n // 2 :]
    path = folder / "catalogue.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(out)
    return path, {r["id"] for r in rows}


def count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM products").fetchone()[0]
    except sqlite3.Error:
        return -1


def ingest_run(run: int, n: int, rng: random.Random, work: Path) -> dict:
    folder = work / f"ingest-{run}"
    folder.mkdir()
    cat, good = catalogue(folder, n)
    idx = folder / "idx"
    args = CLI + ["ingest", str(cat), "--images", str(DATA), "--index", str(idx), "-q"]
    env = dict(os.environ, SHOPSEARCH_INGEST_BATCH=str(rng.choice([16, 32, 64])))
    kills, at = rng.randint(1, 3), []
    for _ in range(kills):
        p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # a random moment: from model loading (before any write) to the last batches
        target = rng.uniform(-0.1, 0.95) * n
        deadline = time.time() + 600
        while p.poll() is None and time.time() < deadline:
            c = count(idx / "records.sqlite") if (idx / "records.sqlite").exists() else 0
            if (target < 0 and time.time() - (deadline - 600) > rng.uniform(0.2, 2.0)) or (target >= 0 and c >= target):
                break
            time.sleep(0.01)
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            at.append(max(0, count(idx / "records.sqlite")) if (idx / "records.sqlite").exists() else 0)
        else:
            at.append(f"finished ({p.returncode})")
    r = subprocess.run(args + ["--errors", str(folder / "errors.jsonl")], env=env, capture_output=True, text=True)
    result = {"run": run, "rows": n, "kills_at_committed": at, "resume_rc": r.returncode}
    from shopsearch.index.embedded import EmbeddedIndex

    ix = EmbeddedIndex(idx)
    ids = ix.ids()
    problems = ix.verify()
    errors = [json.loads(x) for x in (folder / "errors.jsonl").read_text().splitlines()]
    s = subprocess.run(CLI + ["search", "black shoes", "--index", str(idx), "-k", "3", "--json"], capture_output=True,
                       text=True)
    result.update(
        indexed=len(ids), missing=len(good - set(ids)), extra=len(set(ids) - good), duplicates=len(ids) - len(set(ids)),
        problems=problems, bad_rows_reported=len(errors), search_ok=s.returncode == 0 and bool(json.loads(s.stdout)["hits"]),
    )
    result["ok"] = (r.returncode == 0 and not result["missing"] and not result["extra"] and not result["duplicates"]
                    and not problems and result["bad_rows_reported"] == 3 and result["search_ok"])
    ix.close()
    return result


WRITER = """
import sys
from shopsearch.events.store import Event, EventStore
store = EventStore(sys.argv[1])
w, n = sys.argv[2], int(sys.argv[3])
for i in range(n):
    store.record(Event(type="click", session_id=f"w{w}", query_text=f"{w}-{i}", product_id=str(i)))
    print(f"{w}-{i}", flush=True)   # acknowledged: record() returned
"""


def events_run(run: int, writers: int, per: int, rng: random.Random, work: Path) -> dict:
    db = work / f"events-{run}.sqlite"
    url = f"sqlite:///{db}"
    from shopsearch.events.store import EventStore

    EventStore(url)  # create the schema once, as the server does at start
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(w), str(per)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT) for w in range(writers)]
    victims = rng.sample(range(writers), k=max(1, writers // 2))
    time.sleep(rng.uniform(0.5, 3.0))
    killed = 0
    for v in victims:
        time.sleep(rng.uniform(0.0, 0.5))
        if procs[v].poll() is None:
            os.kill(procs[v].pid, signal.SIGKILL)
            killed += 1
    acked: list[str] = []
    for p in procs:
        out, _ = p.communicate()
        acked += out.split()
    con = sqlite3.connect(db)
    integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    stored = [r[0] for r in con.execute("SELECT query_text FROM events")]
    con.close()
    lost = set(acked) - set(stored)
    dup = len(stored) - len(set(stored))
    # an event may be stored but not acknowledged (killed between commit and print): that is not loss
    return {"run": run, "writers": writers, "killed": killed, "acked": len(acked), "stored": len(stored),
            "lost": len(lost), "duplicates": dup, "integrity": integrity,
            "ok": integrity == "ok" and not lost and not dup and len(stored) - len(acked) <= len(victims)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rows", type=int, default=1500)
    ap.add_argument("--event-runs", type=int, default=10)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--per-writer", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = random.Random(a.seed)
    out = {"ingest": [], "events": []}
    with tempfile.TemporaryDirectory(prefix="shopsearch-crash-") as tmp:
        work = Path(tmp)
        for run in range(1, a.runs + 1):
            r = ingest_run(run, a.rows, rng, work)
            out["ingest"].append(r)
            log.info("ingest %2d: killed at %s committed -> %d indexed, missing %d, extra %d, dup %d, problems %s, %s",
                     run, r["kills_at_committed"], r["indexed"], r["missing"], r["extra"], r["duplicates"],
                     r["problems"] or "none", "OK" if r["ok"] else "FAIL")
        for run in range(1, a.event_runs + 1):
            r = events_run(run, a.writers, a.per_writer, rng, work)
            out["events"].append(r)
            log.info("events %2d: %d writers, %d killed: acked %d, stored %d, lost %d, dup %d, integrity %s, %s",
                     run, r["writers"], r["killed"], r["acked"], r["stored"], r["lost"], r["duplicates"], r["integrity"],
                     "OK" if r["ok"] else "FAIL")
    kills = sum(len(r["kills_at_committed"]) for r in out["ingest"])
    log.info("summary: ingest %d/%d runs whole after %d kill -9s; events %d/%d runs with nothing lost or doubled",
             sum(r["ok"] for r in out["ingest"]), len(out["ingest"]), kills,
             sum(r["ok"] for r in out["events"]), len(out["events"]))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=2))
    if not all(r["ok"] for r in out["ingest"] + out["events"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
