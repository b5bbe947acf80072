"""Large mode of the embedded index (HNSW over 8-bit vectors, graphs saved per
generation, records read on demand), forced on a small index by lowering
`ann_threshold`, and checked against the exact mode on the same records."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import cli


@pytest.fixture()
def large(tmp_path, small_index, monkeypatch):
    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)
    monkeypatch.setenv("SHOPSEARCH_ANN_THRESHOLD", "50")
    from shopsearch.settings import get_settings

    get_settings.cache_clear()
    yield idx
    get_settings.cache_clear()


def test_large_mode_matches_exact_search(large, small_index):
    from shopsearch.index.embedded import EmbeddedIndex

    exact = EmbeddedIndex(small_index)
    ix = EmbeddedIndex(large)
    snap = ix.snapshot()
    assert snap.large and snap.docs is None and set(snap.ann) == {"text", "image", "visual"}
    assert list(large.glob("ann-*.faiss")) and list(large.glob("ann-*.npz"))
    assert ix.ids() == exact.ids()
    for pos in (0, 57, 199):
        assert ix.product(pos) == exact.product(pos)
        for f in ("text", "image", "visual"):
            assert np.array_equal(ix.vector(pos, f), exact.vector(pos, f))
    for pos in (3, 88, 150):
        v = exact.vector(pos, "text")
        want = exact.dense(v, "text", 10)
        got = ix.dense(v, "text", 10)
        assert got.pos.tolist() == want.pos.tolist()  # re-ranked on exact vectors: same order
        assert np.allclose(got.scores, want.scores, atol=1e-5)
        approx = ix.dense_scores(v, "text", want.pos)
        assert np.abs(approx - want.scores).max() < 0.02  # decoded 8-bit vectors
        mask = np.zeros(len(ix.ids()), bool)
        mask[::3] = True
        assert ix.dense(v, "text", 5, mask).pos.tolist() == exact.dense(v, "text", 5, mask).pos.tolist()
    exact.close()
    ix.close()


def test_graphs_are_saved_and_reused(large):
    from shopsearch.index.embedded import EmbeddedIndex

    EmbeddedIndex(large).snapshot()
    files = {p: p.stat().st_mtime_ns for p in large.glob("ann-*")}
    assert len(files) == 4
    again = EmbeddedIndex(large)
    again.snapshot()  # opened from the files, not rebuilt
    assert {p: p.stat().st_mtime_ns for p in large.glob("ann-*")} == files
    again.close()


def test_search_through_the_cli_in_large_mode(large, small_index):
    def hits(idx, *args):
        return [h["id"] for h in json.loads(cli("search", *args, "--index", idx, "-k", "5", "--json").stdout)["hits"]]

    env = {"SHOPSEARCH_ANN_THRESHOLD": "50"}
    for q in ("black shoes", "women handbag", "黑色手表"):
        got = json.loads(cli("search", q, "--index", large, "-k", "5", "--json", env=env).stdout)["hits"]
        assert [h["id"] for h in got][:1] == hits(small_index, q)[:1], q
        assert len(set(h["id"] for h in got) & set(hits(small_index, q))) >= 4, q
    # a write makes a new generation: its graphs replace the old ones
    r = cli("ingest", "--delete", hits(small_index, "black shoes")[0], "--index", large, env=env)
    assert "deleted 1 of 1" in r.stdout
    assert hits(small_index, "black shoes")[0] not in [
        h["id"] for h in json.loads(cli("search", "black shoes", "--index", large, "-k", "5", "--json", env=env).stdout)["hits"]]
    assert len(list(large.glob("ann-*.npz"))) == 1


def test_a_served_large_index_reloads_once_writes_pause(large, monkeypatch):
    """Another process's writes are picked up, but only after the writer pauses
    (a large view costs minutes to rebuild), and in the background."""
    import time

    from shopsearch.index import embedded
    from shopsearch.settings import get_settings

    monkeypatch.setattr(embedded, "RECHECK_S", 0.05)
    get_settings().large_reload_quiet_s = 1.0
    reader, writer = embedded.EmbeddedIndex(large), embedded.EmbeddedIndex(large)
    n = len(reader.ids())
    victim = reader.ids()[0]
    writer.delete([victim])
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.6:  # within the quiet period: the old view, no reload started
        assert len(reader.ids()) == n and reader._reloader is None
        time.sleep(0.05)
    deadline = time.monotonic() + 60
    while len(reader.ids()) != n - 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(reader.ids()) == n - 1 and reader.position(victim) is None
    reader.close()
    writer.close()
