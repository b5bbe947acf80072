"""Property-based fuzzing of the catalogue reader: whatever bytes a catalogue
file holds, reading it either fails at once with a CatalogueError (the file as a
whole is unusable) or yields, for every row, a product or a ValueError with a
message. Nothing else escapes, and nothing hangs."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from shopsearch.catalog.reader import CatalogueError, ColumnMap, read_rows, row_to_product

HEADER = ["id", "title", "type", "colour", "price", "image"]
cell = st.one_of(st.text(max_size=40), st.sampled_from(["", " ", "NaN", "-1", "1e309", "<b>x</b>", "../../x.jpg",
                                                        "http://127.0.0.1/x.jpg", "\x00", "a/b", "😀" * 30]))


def consume(path: Path, images: Path) -> int:
    """Read every row the way ingest does; returns how many rows became products."""
    try:
        columns, rows = read_rows(path)
        cmap = ColumnMap.resolve(columns)
    except CatalogueError as e:
        assert str(e)
        return -1
    made = 0
    for n, row in rows:
        assert n >= 1
        if "__error__" in row:
            assert row["__error__"]
            continue
        try:
            product, photos = row_to_product(row, cmap, images)
        except ValueError as e:
            assert str(e)
            continue
        assert product.id and product.title and "\x00" not in product.title
        if photos and not Path(str(row.get("image", "")).strip()).is_absolute():  # relative: stays inside
            assert all(Path(p).resolve().is_relative_to(images.resolve()) for p in photos)
        made += 1
    return made


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), st.sampled_from([".csv", ".tsv", ".jsonl"]))
def test_random_bytes(data, suffix):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"c{suffix}"
        p.write_bytes(data)
        consume(p, Path(d))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(cell, min_size=0, max_size=8), max_size=12), st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_random_rows_under_a_good_header(rows, encoding):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerows(rows)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.csv"
        p.write_bytes(buf.getvalue().encode(encoding, "replace"))
        made = consume(p, Path(d))
        if encoding == "utf-8":  # a good header is always readable
            assert made >= 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(HEADER + ["extra"]),
                                st.one_of(cell, st.integers(), st.floats(allow_nan=True), st.none(),
                                          st.lists(st.text(max_size=5), max_size=3)), max_size=7), max_size=10))
def test_random_json_lines(objs):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.jsonl"
        p.write_text("\n".join(json.dumps(o) for o in [{"id": "1", "title": "t"}] + objs), encoding="utf-8")
        assert consume(p, Path(d)) >= 1
