"""Catalogue ingest through the real CLI: bad rows, upsert, delete, resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import SHOPSEARCH, cli, fashion_rows, write_csv


def _count(index: Path) -> int:
    return json.loads(cli("stats", "--index", index, "--json").stdout)["products"]


@pytest.fixture()
def bad_catalogue(tmp_path, data_dir) -> Path:
    """Ten good rows and one of each kind of bad row, with known row numbers."""
    rows = fashion_rows(10)
    (tmp_path / "notimage.jpg").write_text("this is not a jpeg")
    Image.new("RGB", (4, 4), "red").save(tmp_path / "tiny.png")
    bad = [
        dict(rows[0], id=""),                                   # row 11: missing id
        dict(rows[1], id="900001", productDisplayName=""),      # row 12: missing title
        dict(rows[2]),                                          # row 13: duplicate id
        dict(rows[3], id="900002", image_hr="images_224sq/does-not-exist.jpg"),  # row 14: missing file
        dict(rows[4], id="900003", image_hr=str(tmp_path / "notimage.jpg")),     # row 15: not an image
        dict(rows[5], id="900004", image_hr=str(tmp_path / "tiny.png")),         # row 16: absurd size
    ]
    return write_csv(tmp_path / "bad.csv", rows + bad)


def test_bad_rows_are_reported_and_skipped(tmp_path, bad_catalogue, tiny_model, data_dir):
    idx = tmp_path / "idx"
    r = cli("ingest", bad_catalogue, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q")
    err = r.stderr
    assert "row 11: missing id" in err
    assert "row 12: product 900001: missing title" in err
    assert f"row 13: duplicate id {fashion_rows(3)[2]['id']}" in err
    assert "row 14:" in err and "image file not found" in err
    assert "row 15:" in err and "not a readable image" in err
    assert "row 16:" in err and "too small" in err
    assert "indexed 10" in r.stdout and "skipped 6 bad rows" in r.stdout
    assert _count(idx) == 10


def test_on_error_fail_stops_at_first_bad_row(tmp_path, bad_catalogue, tiny_model, data_dir):
    idx = tmp_path / "idx"
    r = cli("ingest", bad_catalogue, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q",
            "--on-error", "fail", check=False)
    assert r.returncode == 1
    assert "row 11: missing id" in r.stderr and "row 12" not in r.stderr
    assert _count(idx) == 10  # everything before the bad row is committed


def test_upsert_is_idempotent_and_updates_changed_rows(tmp_path, tiny_model, data_dir):
    rows = fashion_rows(30)
    cat = write_csv(tmp_path / "c.csv", rows)
    idx = tmp_path / "idx"
    cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q")
    again = cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q")
    assert "indexed 0" in again.stdout and "unchanged 30" in again.stdout
    rows[0]["productDisplayName"] = "Renamed Product Title"
    write_csv(cat, rows)
    third = cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q")
    assert "indexed 1" in third.stdout and "unchanged 29" in third.stdout
    assert _count(idx) == 30
    out = json.loads(cli("search", "Renamed Product Title", "--index", idx, "--json", "-k", "1").stdout)
    assert out["hits"][0]["id"] == rows[0]["id"]


def test_delete_removes_products(tmp_path, tiny_model, data_dir):
    rows = fashion_rows(20)
    cat = write_csv(tmp_path / "c.csv", rows)
    idx = tmp_path / "idx"
    cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q")
    gone = [rows[0]["id"], rows[1]["id"]]
    r = cli("ingest", "--delete", ",".join(gone + ["no-such-id"]), "--index", idx)
    assert "deleted 2 of 3" in r.stdout
    assert _count(idx) == 18
    out = json.loads(cli("search", rows[0]["productDisplayName"], "--index", idx, "--json", "-k", "50").stdout)
    assert not set(gone) & {h["id"] for h in out["hits"]}


def test_where_selects_the_unseen_split(tmp_path, tiny_model, data_dir):
    cat = write_csv(tmp_path / "c.csv", fashion_rows(60))
    idx = tmp_path / "idx"
    r = cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q", "--where", "id % 5 == 0")
    expected = sum(int(x["id"]) % 5 == 0 for x in fashion_rows(60))
    assert _count(idx) == expected and f"{60 - expected} rows left out by --where" in r.stdout


def test_killed_ingest_resumes_without_loss_or_duplicates(tmp_path, tiny_model, data_dir):
    rows = fashion_rows(300)
    cat = write_csv(tmp_path / "c.csv", rows)
    idx = tmp_path / "idx"
    env = dict(os.environ, SHOPSEARCH_INGEST_BATCH="20")
    p = subprocess.Popen(SHOPSEARCH + ["ingest", str(cat), "--images", str(data_dir), "--index", str(idx),
                                       "--model", str(tiny_model), "-q"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    db = idx / "records.sqlite"
    deadline = time.time() + 300
    committed = 0
    while time.time() < deadline and p.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as c:
                    committed = c.execute("SELECT COUNT(*) FROM products").fetchone()[0]
            except sqlite3.Error:
                committed = 0
            if committed >= 40:
                break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)  # a crash: no chance to clean up
    p.wait()
    assert 0 < committed < 300, "the kill must land mid-ingest"
    r = cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q", env=env)
    unchanged = int(r.stdout.split("unchanged ")[1].split(",")[0])
    indexed = int(r.stdout.split("indexed ")[1].split(" ")[0])
    assert unchanged >= committed and unchanged + indexed == 300
    assert _count(idx) == 300


def test_jsonl_and_custom_mapping(tmp_path, tiny_model, data_dir):
    rows = fashion_rows(5)
    lines = [json.dumps({"sku": r["id"], "name": r["productDisplayName"], "kind": r["articleType"],
                         "color": r["baseColour"], "pic": r["image_hr"], "cost": 10 + i}) for i, r in enumerate(rows)]
    cat = tmp_path / "c.jsonl"
    cat.write_text("\n".join(lines) + "\n")
    idx = tmp_path / "idx"
    cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q",
        "--map", "type=kind,image=pic,price=cost")
    out = json.loads(cli("search", rows[0]["productDisplayName"], "--index", idx, "--json", "-k", "1").stdout)
    hit = out["hits"][0]
    assert hit["id"] == rows[0]["id"] and hit["type"] == rows[0]["articleType"] and hit["price"] == 10.0
    assert hit["has_image"] is True


def test_missing_column_mapping_is_a_clear_error(tmp_path, tiny_model):
    cat = tmp_path / "c.csv"
    cat.write_text("code,label\n1,hello\n")
    r = cli("ingest", cat, "--index", tmp_path / "idx", "--model", tiny_model, "-q", check=False)
    assert r.returncode == 2 and "cannot find the id and title column(s)" in r.stderr and "--map" in r.stderr


def test_parallel_workers_write_the_same_index(tmp_path, tiny_model, data_dir):
    cat = write_csv(tmp_path / "c.csv", fashion_rows(90))
    one, two = tmp_path / "one", tmp_path / "two"
    env = {"SHOPSEARCH_INGEST_BATCH": "16"}
    cli("ingest", cat, "--images", data_dir, "--index", one, "--model", tiny_model, "-q", env=env)
    r = cli("ingest", cat, "--images", data_dir, "--index", two, "--model", tiny_model, "-q", "--workers", "2", env=env)
    assert "indexed 90" in r.stdout and _count(two) == 90
    for q in ("black shoes", "women handbag"):
        a = json.loads(cli("search", q, "--index", one, "--json", "-k", "5").stdout)
        b = json.loads(cli("search", q, "--index", two, "--json", "-k", "5").stdout)
        assert [h["id"] for h in a["hits"]] == [h["id"] for h in b["hits"]]
        assert [h["score"] for h in a["hits"]] == pytest.approx([h["score"] for h in b["hits"]], abs=1e-4)
