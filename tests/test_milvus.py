"""The Milvus backend through the network client path: a real `milvus-lite
server` process on loopback, driven by the real CLI and engine, compared with
the embedded backend on the same catalogue."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cli, write_csv
from server import free_port

MILVUS_LITE = Path(sys.executable).parent / "milvus-lite"


@pytest.fixture(scope="module")
def milvus(tmp_path_factory):
    if not MILVUS_LITE.exists():
        pytest.skip("milvus-lite is not installed")
    port = free_port()
    data = tmp_path_factory.mktemp("milvus")
    log = open(data / "server.log", "w")
    p = subprocess.Popen([str(MILVUS_LITE), "server", "--data-dir", str(data / "db"), "--host", "127.0.0.1",
                          "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if p.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"milvus-lite server did not start: {(data / 'server.log').read_text()[-1000:]}")
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}"
    p.terminate()
    p.wait(20)
    log.close()


@pytest.fixture(scope="module")
def both(milvus, small_catalogue, small_index, tiny_model, data_dir):
    uri = f"{milvus}/shop"
    cli("ingest", small_catalogue, "--images", data_dir, "--index", uri, "--model", tiny_model, "-q")
    return uri, small_index


def _ids(index, *args) -> list[str]:
    out = json.loads(cli("search", *args, "--index", index, "--json").stdout)
    return [h["id"] for h in out["hits"]]


def test_stats_through_milvus(both):
    uri, _ = both
    st = json.loads(cli("stats", "--index", uri, "--json").stdout)
    assert st["products"] == 200 and st["backend"] == "MilvusIndex" and st["with_image"] == 200


@pytest.mark.parametrize("query", ["navy blue shirt", "black shoes", "women handbag", "黑色手表"])
def test_hybrid_results_match_the_embedded_backend(both, query):
    uri, emb = both
    assert _ids(uri, query, "-k", "5") == _ids(emb, query, "-k", "5")


def test_filters_facets_and_photo_queries(both, small_catalogue, data_dir):
    uri, emb = both
    out = json.loads(cli("search", "shoes", "--index", uri, "-k", "50", "-f", "colour=Black", "--json").stdout)
    assert out["hits"] and all(h["colour"] == "Black" for h in out["hits"])
    emb_out = json.loads(cli("search", "shoes", "--index", emb, "-k", "50", "-f", "colour=Black", "--json").stdout)
    assert out["facets"] == emb_out["facets"] and out["facets"]["colour"]["Black"] == out["total"]
    row = list(csv.DictReader(small_catalogue.open()))[6]
    photo = str(data_dir / row["image_hr"])
    assert _ids(uri, "--image", photo, "-k", "1") == [row["id"]]
    assert _ids(uri, "--image", photo, "-k", "5") == _ids(emb, "--image", photo, "-k", "5")


def test_bm25_with_chinese_tokens(both, tmp_path, tiny_model, data_dir, small_catalogue):
    uri, _ = both
    rows = list(csv.DictReader(small_catalogue.open()))[:1]
    rows[0] = dict(rows[0], id="zh-1", productDisplayName="真皮男士钱包 Leather Wallet")
    cli("ingest", write_csv(tmp_path / "zh.csv", rows), "--images", data_dir, "--index", uri, "--model", tiny_model, "-q")
    from shopsearch.index.base import open_index
    from shopsearch.index.lexical import tokenize

    ix = open_index(uri)
    hits = ix.bm25(tokenize("真皮钱包"), 5)  # Milvus BM25 over our jieba tokens
    assert ix.ids()[int(hits.pos[0])] == "zh-1" and hits.scores[0] > 0
    cli("ingest", "--delete", "zh-1", "--index", uri)


def test_upsert_and_delete_through_milvus(both, tmp_path, tiny_model, data_dir, small_catalogue):
    uri, _ = both
    rows = list(csv.DictReader(small_catalogue.open()))
    rows[20]["productDisplayName"] = "Completely Renamed Turquoise Gadget"
    changed = write_csv(tmp_path / "changed.csv", rows)
    r = cli("ingest", changed, "--images", data_dir, "--index", uri, "--model", tiny_model, "-q")
    assert "indexed 1" in r.stdout and "unchanged 199" in r.stdout
    assert _ids(uri, "Completely Renamed Turquoise Gadget", "-k", "1") == [rows[20]["id"]]
    r = cli("ingest", "--delete", rows[20]["id"], "--index", uri)
    assert "deleted 1 of 1" in r.stdout
    assert rows[20]["id"] not in _ids(uri, "Completely Renamed Turquoise Gadget", "-k", "20")
    assert json.loads(cli("stats", "--index", uri, "--json").stdout)["products"] == 199


def test_words_against_photos_only_match_the_embedded_backend(milvus, tmp_path, data_dir):
    """The shipped model's borrowed words and longer label lists survive Milvus's JSON field:
    photos-only word search ranks and scores as the embedded backend does, words part included."""
    from conftest import fashion_rows

    catalogue = write_csv(tmp_path / "forty.csv", fashion_rows(40, lambda r: int(r["id"]) % 5 == 0))
    uri, local = f"{milvus}/shipped", tmp_path / "local"
    for index in (uri, local):
        cli("ingest", catalogue, "--images", data_dir, "--index", index, "-q")  # the shipped fashion model
    title = next(csv.DictReader(catalogue.open()))["productDisplayName"]
    got = [json.loads(cli("search", title, "--image-only", "-k", "10", "--index", str(i), "--json").stdout)["hits"]
           for i in (uri, local)]
    assert [h["id"] for h in got[0]] == [h["id"] for h in got[1]]
    assert any(h["parts"].get("words", 0) > 0 for h in got[0])
    for a, b in zip(*got):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        assert a["score"] == pytest.approx(a["parts"]["image"] + a["parts"].get("attributes", 0)
                                           + a["parts"].get("words", 0), abs=1e-5)
