"""Searches keep answering while another process ingests and deletes in the same
index, and the server picks the changes up without a restart."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import threading
import time

import httpx

from conftest import ROOT, fashion_rows, write_csv
from server import running_server


def test_searches_during_ingest_and_deletes(tmp_path, small_index, small_catalogue, tiny_model, data_dir):
    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)
    have = [r["id"] for r in csv.DictReader(small_catalogue.open())]
    new = [r for r in fashion_rows(700) if r["id"] not in set(have)][:150]
    cat = write_csv(tmp_path / "new.csv", new)
    gone = have[:30]
    photo = (data_dir / new[0]["image_hr"]).read_bytes()
    env = {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model)}
    with running_server(idx, env) as base:
        stop = threading.Event()
        answered: list[int] = []
        failures: list[str] = []

        def shopper(k: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        if (i + k) % 4 == 0:
                            r = c.post("/search", files={"image": ("q.jpg", photo, "image/jpeg")}, data={"query": "{}"})
                        else:
                            r = c.get("/search", params={"q": ["black shoes", "blue shirt", "watch", "女士手提包"][i % 4],
                                                         "type": "" if i % 3 else "Tshirts"})
                        (answered if r.status_code == 200 else failures).append(r.status_code)
                        if r.status_code == 200:
                            json.loads(r.text)["hits"]
                    except httpx.HTTPError as e:
                        failures.append(repr(e))

        threads = [threading.Thread(target=shopper, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        time.sleep(1)
        before = len(answered)
        cmd = [sys.executable, "-m", "shopsearch.cli"]
        ingest = subprocess.Popen(cmd + ["ingest", str(cat), "--images", str(data_dir), "--index", str(idx), "--model",
                                         str(tiny_model), "-q"], cwd=ROOT, env={**__import__("os").environ,
                                                                               "SHOPSEARCH_INGEST_BATCH": "32"},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for chunk in (gone[:10], gone[10:20], gone[20:]):  # deletes from a third process, while the ingest runs
            time.sleep(1)
            d = subprocess.run(cmd + ["ingest", "--delete", ",".join(chunk), "--index", str(idx)], cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
            assert d.returncode == 0 and "deleted 10 of 10" in d.stdout, d.stderr
        out, err = ingest.communicate(timeout=600)
        assert ingest.returncode == 0 and "indexed 150" in out, err
        during = len(answered) - before
        want = 200 + 150 - 30
        deadline = time.time() + 60
        while httpx.get(f"{base}/health", timeout=30).json()["products"] != want and time.time() < deadline:
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        assert not failures, failures[:5]
        assert during >= 10, during  # searches were answered while the writes ran
        assert httpx.get(f"{base}/health", timeout=30).json()["products"] == want
        r = httpx.get(f"{base}/products/{new[5]['id']}", timeout=30)
        assert r.status_code == 200 and r.json()["title"] == new[5]["productDisplayName"]
        assert httpx.get(f"{base}/products/{gone[0]}", timeout=30).status_code == 404
        # /health counts the records on disk at once; searches read the in-memory view, which
        # reloads in the background a moment later: deleted products must leave it within the deadline
        def stale() -> set[str]:
            hits = httpx.get(f"{base}/search", params={"q": "shirt", "page_size": 200}, timeout=30).json()["hits"]
            return {h["id"] for h in hits} & set(gone)

        while stale() and time.time() < deadline + 30:
            time.sleep(0.5)
        assert not stale()
