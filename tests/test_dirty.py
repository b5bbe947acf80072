"""Dirty catalogues through the real CLI: every bad row is reported with its row
number, every good row is indexed, and the process neither crashes nor hangs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli, fashion_rows
from server import connection_listener
from dirty import make_dirty, make_dirty_jsonl


def _stats(idx: Path) -> dict:
    return json.loads(cli("stats", "--index", idx, "--json").stdout)


def _ids(idx: Path) -> set[str]:
    from shopsearch.index.base import open_index

    ix = open_index(idx)
    try:
        return set(ix.ids())
    finally:
        ix.close()


@pytest.fixture(scope="module")
def listener():
    with connection_listener() as (port, seen):
        yield port, seen


@pytest.fixture(scope="module")
def dirty(tmp_path_factory, data_dir, listener):
    return make_dirty(tmp_path_factory.mktemp("dirty"), data_dir, fashion_rows(20), url_port=listener[0])


@pytest.fixture(scope="module")
def dirty_run(dirty, tmp_path_factory, tiny_model):
    """Ingest the dirty CSV once while a socket listens where its photo URL points:
    nothing may connect to it (URLs in a catalogue are never fetched)."""
    idx = tmp_path_factory.mktemp("dirty-idx") / "idx"
    report = idx.parent / "errors.jsonl"
    r = cli("ingest", dirty.path, "--images", dirty.images, "--index", idx, "--model", tiny_model, "-q",
            "--errors", report, timeout=300)
    return idx, r, [json.loads(line) for line in report.read_text().splitlines()]


def test_every_good_row_is_indexed(dirty, dirty_run):
    idx, r, _ = dirty_run
    assert _ids(idx) == set(dirty.good), r.stderr
    st = _stats(idx)
    assert st["products"] == len(dirty.good)
    assert f"indexed {len(dirty.good)}" in r.stdout


def test_every_bad_row_is_reported_with_its_row_number(dirty, dirty_run):
    _, r, errors = dirty_run
    reported = {e["row"]: e["message"] for e in errors}
    missing = {n: why for n, why in dirty.bad_rows.items() if n not in reported}
    assert not missing, f"bad rows not reported: {missing}\n{r.stderr}"
    assert set(reported) == set(dirty.bad_rows), {n: m for n, m in reported.items() if n not in dirty.bad_rows}
    assert f"skipped {len(dirty.bad_rows)} bad rows" in r.stdout
    by_why = {why: reported[n] for n, why in dirty.bad_rows.items()}
    assert "outside the images folder" in by_why["path traversal"]
    assert "pixels" in by_why["decompression bomb"] or "absurd size" in by_why["decompression bomb"]
    assert "UTF-8" in by_why["latin-1 bytes"]
    assert "fields" in by_why["extra columns"] and "fields" in by_why["missing columns"]
    assert "characters" in by_why["huge title"]
    assert "empty" in by_why["zero-byte photo"]


def test_photo_urls_are_never_fetched(dirty_run, listener):
    assert listener[1] == []  # no connection reached the URL's port


def test_awkward_photos_are_embedded_and_titles_cleaned(dirty, dirty_run):
    from shopsearch.index.base import open_index

    idx, _, _ = dirty_run
    ix = open_index(idx)
    for pid in dirty.with_photo:
        assert ix.vector(ix.position(pid), "image") is not None, pid
    titles = {ix.product(ix.position(p)).title for p in dirty.good}
    assert "Blue & White alert(1) Shirt" in titles  # markup out, entity decoded, words kept
    assert "🔥 Red Party Dress 👗✨" in titles and "女士红色连衣裙" in titles
    assert "Family 👨\u200d👩\u200d👧 Tee" in titles  # joiners kept, the zero-width space dropped
    assert "Shirt with a line break and tab" in titles
    remote = [ix.product(ix.position(p)) for p in dirty.good if ix.product(ix.position(p)).title == "Remote Photo Shirt"]
    assert len(remote) == 1 and remote[0].image is None
    ix.close()


def test_dirty_products_are_searchable(dirty_run):
    idx, _, _ = dirty_run
    for q in ("party dress", "连衣裙", "cafe jacket", "recovered green shirt"):
        out = json.loads(cli("search", q, "--index", idx, "-k", "3", "--json").stdout)
        assert out["hits"], q
    out = json.loads(cli("search", "recovered green shirt", "--index", idx, "-k", "1", "--json").stdout)
    assert out["hits"][0]["title"] == "Recovered Green Shirt"


def test_dirty_jsonl(tmp_path, data_dir, tiny_model):
    d = make_dirty_jsonl(tmp_path / "j", data_dir, fashion_rows(10))
    idx, report = tmp_path / "idx", tmp_path / "errors.jsonl"
    r = cli("ingest", d.path, "--images", d.images, "--index", idx, "--model", tiny_model, "-q", "--errors", report,
            timeout=300)
    assert _ids(idx) == set(d.good), r.stderr
    rows = {json.loads(x)["row"] for x in report.read_text().splitlines()}
    assert rows == set(d.bad_rows), (rows, d.bad_rows, r.stderr)


def test_catalogue_level_damage_is_one_clear_error(tmp_path, tiny_model):
    cases = {
        "empty.csv": b"",
        "binary.csv": b"\x89PNG\r\n\x1a\n\x00\x00garbage",
        "noid.csv": b"name,colour\nShirt,Red\n",
        "latin1-header.csv": "id,t\xeftle\n1,x\n".encode("latin-1"),
        "catalogue.xlsx": b"PK\x03\x04",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        r = cli("ingest", tmp_path / name, "--index", tmp_path / f"idx-{name}", "--model", tiny_model, "-q",
                check=False, timeout=120)
        assert r.returncode == 2, (name, r.returncode, r.stderr)
        assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr, (name, r.stderr)
    r = cli("ingest", tmp_path, "--index", tmp_path / "idx-dir", "--model", tiny_model, "-q", check=False)
    assert r.returncode == 2 and "not a file" in r.stderr
