"""Shared fixtures: real data from ../shared, a tiny image tower trained here,
and small real indexes on disk built through the real CLI entry point."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SHOPSEARCH_DATA", ROOT.parent / "shared" / "data" / "fashion"))
BENCH = Path(os.environ.get("SHOPSEARCH_BENCH", ROOT.parent / "shared" / "bench"))
SHOPSEARCH = [sys.executable, "-m", "shopsearch.cli"]


def cli(*args: str, env: dict | None = None, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the real `shopsearch` command line."""
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(SHOPSEARCH + [str(a) for a in args], capture_output=True, text=True, env=e, timeout=timeout, cwd=ROOT)
    if check and r.returncode != 0:
        raise AssertionError(f"shopsearch {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def fashion_rows(n: int, where=lambda r: True, catalogue: str = "catalogue_hr.csv") -> list[dict]:
    out = []
    with (DATA / catalogue).open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if where(r):
                out.append(r)
                if len(out) >= n:
                    break
    return out


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "catalogue_hr.csv").exists():
        pytest.fail(f"fashion data not found at {DATA}: set SHOPSEARCH_DATA")
    return DATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, data_dir) -> Path:
    """A real image tower trained in the test run on a few hundred seen products."""
    out = tmp_path_factory.mktemp("model") / "tiny"
    train_csv = write_csv(tmp_path_factory.mktemp("traindata") / "train.csv",
                          fashion_rows(400, lambda r: int(r["id"]) % 5 != 0))
    cli("train", train_csv, "--images", data_dir, "--out", out, "--epochs", "8", "--augment", "0")
    assert (out / "model.npz").exists() and (out / "card.json").exists()
    return out


@pytest.fixture(scope="session")
def small_catalogue(tmp_path_factory, data_dir) -> Path:
    """200 real fashion products with photos, a mix of types and colours."""
    rows = fashion_rows(200)
    return write_csv(tmp_path_factory.mktemp("catalogue") / "small.csv", rows)


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, small_catalogue, tiny_model, data_dir) -> Path:
    idx = tmp_path_factory.mktemp("index") / "idx"
    cli("ingest", small_catalogue, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q")
    return idx


@pytest.fixture(scope="session")
def engine(small_index, tiny_model):
    from shopsearch.engine import Engine
    from shopsearch.settings import Settings

    return Engine(small_index, settings=Settings(image_model=tiny_model))
