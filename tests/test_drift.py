"""Schema and model drift: an index written by another schema version or model
is refused with a message that says what to run, never answered wrongly."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import ROOT, cli, fashion_rows, write_csv


@pytest.fixture()
def built(tmp_path, tiny_model, data_dir) -> tuple[Path, Path]:
    """A 20-product index built with a copy of the tiny model (which a test may then change)."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    cat = write_csv(tmp_path / "c.csv", fashion_rows(20))
    idx = tmp_path / "idx"
    cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", model, "-q")
    assert cli("search", "shirt", "--index", idx, "-k", "1").returncode == 0
    return idx, model


def _refused(idx: Path, *words: str) -> str:
    for args in (["search", "shirt"], ["serve", "--port", "1"]):
        r = cli(*args, "--index", idx, check=False, timeout=120)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "error: " in r.stderr and "Traceback" not in r.stderr, r.stderr
        for w in words:
            assert w in r.stderr, (w, r.stderr)
    return r.stderr


def test_other_schema_version_is_refused(built):
    idx, _ = built
    db = sqlite3.connect(idx / "records.sqlite")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    _refused(idx, "schema version 99", "Upgrade Shopsearch", "shopsearch ingest")
    r = cli("stats", "--index", idx, check=False)
    assert r.returncode == 2 and "schema version 99" in r.stderr


def test_changed_model_is_refused(built):
    idx, model = built
    shutil.rmtree(model)
    shutil.copytree(ROOT / "shopsearch" / "models" / "fashion", model)  # a retrained model in the same folder
    err = _refused(idx, "has changed", "--model", "shopsearch ingest")
    assert json.loads((model / "card.json").read_text())["id"] in err


def test_missing_model_is_refused(built):
    idx, model = built
    shutil.rmtree(model)
    _refused(idx, "is gone", str(model))


def test_the_same_model_elsewhere_is_fine(built, tmp_path):
    idx, model = built
    moved = tmp_path / "moved"
    shutil.move(model, moved)  # same weights at another path: the id matches, so it may be used
    r = cli("search", "shirt", "--index", idx, "-k", "1", "--json", env={"SHOPSEARCH_IMAGE_MODEL": str(moved)})
    assert json.loads(r.stdout)["hits"]


@pytest.mark.parametrize("content", [b"this is not sqlite at all" * 100, "other-db"])
def test_a_file_that_is_not_an_index(tmp_path, content):
    idx = tmp_path / "idx"
    idx.mkdir()
    db = idx / "records.sqlite"
    if content == "other-db":
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE orders (id INTEGER, total REAL)")
        con.commit()
        con.close()
    else:
        db.write_bytes(content)
    before = db.read_bytes()
    r = cli("search", "shirt", "--index", idx, check=False)
    assert r.returncode == 2 and "is not a Shopsearch index" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert db.read_bytes() == before  # somebody else's file is left as it was
