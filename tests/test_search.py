"""Search behaviour on a real small index: fusion parts, facets, filters, the
image-only rule, photo queries, Chinese, sorting and negative text."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from conftest import cli, fashion_rows, write_csv
from shopsearch.engine import Engine
from shopsearch.schema import Filters, Query
from shopsearch.settings import Settings


def test_text_query_fuses_three_retrievers(engine):
    res = engine.search(Query(text="navy blue shirt", page_size=5))
    assert res.hits and res.total + res.related >= 5 and res.total >= 1
    parts = res.hits[0].parts
    assert {"bm25", "text", "image"} <= set(parts), parts
    assert res.intent and "Shirts" in res.intent["types"]
    assert res.hits[0].type == "Shirts" and res.hits[0].colour == "Navy Blue"
    # the named type outweighs the colour: other shirts come before navy t-shirts
    assert [h.type for h in res.hits[:3]] == ["Shirts"] * 3


def test_facets_count_the_whole_result_set(engine):
    res = engine.search(Query(text="shoes", page_size=1000))
    # the products that match come first and are counted; the related rest follows them
    assert res.total + res.related == len(res.hits) and res.total > 0
    by_type = Counter(h.type for h in res.hits[:res.total])
    facet = res.facets["type"]
    assert all(by_type[k] == v for k, v in facet.items())
    left_out = [c for k, c in by_type.items() if k not in facet]
    assert not left_out or min(facet.values()) >= max(left_out)  # the top values are shown
    assert sum(res.facets["gender"].values()) == res.total


def test_filters_restrict_results_and_facets(engine):
    res = engine.search(Query(text="shirt", filters=Filters(colour=["Black"]), page_size=100))
    assert res.hits and all(h.colour == "Black" for h in res.hits)
    # the filtered field counts as if its own filter were off (multi-select); the others follow it
    unfiltered = engine.search(Query(text="shirt", page_size=100))
    assert res.facets["colour"] == unfiltered.facets["colour"] and len(res.facets["colour"]) > 1
    assert sum(res.facets["gender"].values()) == res.total
    both = engine.search(Query(text="shirt", filters=Filters(colour=["Black", "White"]), page_size=200))
    assert {h.colour for h in both.hits} == {"Black", "White"}
    assert both.total == res.facets["colour"]["Black"] + res.facets["colour"]["White"]
    typed = engine.search(Query(text="shirt", filters=Filters(colour=["Black"], type=["Tshirts"]), page_size=100))
    black_only = engine.search(Query(text="shirt", filters=Filters(colour=["Black"]), page_size=100))
    # type counts keep the colour filter (the picked type stays listed, at zero when "shirt" means Shirts)
    assert {k: v for k, v in typed.facets["type"].items() if v} == black_only.facets["type"]
    none = engine.search(Query(text="shirt", filters=Filters(colour=["NoSuchColour"])))
    assert none.total == 0 and none.hits == []


def test_image_only_score_ignores_product_text(tmp_path, small_catalogue, tiny_model, data_dir):
    import csv

    rows = list(csv.DictReader(small_catalogue.open()))
    idx = tmp_path / "idx"
    cli("ingest", small_catalogue, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q")
    s = Settings(image_model=tiny_model)
    target = rows[7]["id"]

    def scores(fields):
        eng = Engine(idx, settings=s)
        res = eng.search(Query(text="men blue shirt", fields=fields, page_size=200, facets=False))
        return {h.id: h.score for h in res.hits}

    before_img, before_all = scores(["image"]), scores(None)
    rows[7]["productDisplayName"] = "Men Blue Shirt Men Blue Shirt"
    rows[7]["articleType"], rows[7]["baseColour"], rows[7]["gender"] = "Shirts", "Blue", "Men"
    write_csv(small_catalogue.parent / "changed.csv", rows)
    cli("ingest", small_catalogue.parent / "changed.csv", "--images", data_dir, "--index", idx, "--model", tiny_model, "-q")
    after_img, after_all = scores(["image"]), scores(None)
    assert after_img[target] == pytest.approx(before_img[target], abs=1e-9)
    assert after_img == pytest.approx(before_img, abs=1e-9)
    assert after_all.get(target, 0) > before_all.get(target, 0)  # the text does count without the rule


def test_catalogue_photo_finds_its_product(engine, small_catalogue, data_dir):
    import csv

    rows = list(csv.DictReader(small_catalogue.open()))
    for r in rows[:10]:
        res = engine.search(Query(images=[str(data_dir / r["image_hr"])], page_size=3))
        assert res.hits[0].id == r["id"], (r["id"], [h.id for h in res.hits])
        assert "visual" in res.hits[0].parts


def test_text_plus_image_combines_both(engine, small_catalogue, data_dir):
    import csv

    rows = list(csv.DictReader(small_catalogue.open()))
    shoe = next(r for r in rows if r["articleType"] == "Casual Shoes")
    img = str(data_dir / shoe["image_hr"])
    only_img = engine.search(Query(images=[img], page_size=20))
    black = engine.search(Query(text="black", images=[img], page_size=20))
    assert {"visual", "bm25"} <= set(black.hits[0].parts)
    n_black = lambda res: sum(h.colour == "Black" for h in res.hits[:10])
    assert n_black(black) > n_black(only_img)


def test_chinese_query_maps_to_catalogue_concepts(engine):
    res = engine.search(Query(text="黑色手表", page_size=5))
    assert res.intent["language"] == "zh"
    assert "Watches" in res.intent["types"] and "Black" in res.intent["colours"]
    assert res.hits[0].type == "Watches"


def test_sort_by_price(tmp_path, tiny_model, data_dir):
    rows = fashion_rows(30)
    for i, r in enumerate(rows):
        r["price"] = str((i * 37) % 101 + 1)
    cat = write_csv(tmp_path / "p.csv", rows)
    idx = tmp_path / "idx"
    cli("ingest", cat, "--images", data_dir, "--index", idx, "--model", tiny_model, "-q")
    eng = Engine(idx, settings=Settings(image_model=tiny_model))
    res = eng.search(Query(text="men", sort="price_asc", page_size=30))
    prices = [h.price for h in res.hits]
    assert prices == sorted(prices) and len(prices) > 5
    assert "price" in res.facets
    cheap = eng.search(Query(text="men", filters=Filters(price_max=20), page_size=30))
    assert cheap.hits and all(h.price <= 20 for h in cheap.hits)


def test_negative_text_pushes_matches_down(engine):
    plain = engine.search(Query(text="shoes", page_size=10))
    assert any(h.type == "Sports Shoes" for h in plain.hits), "fixture needs sports shoes near the top"
    neg = engine.search(Query(text="shoes", negative="sports", page_size=10))
    assert sum(h.type == "Sports Shoes" for h in neg.hits) < sum(h.type == "Sports Shoes" for h in plain.hits)


def test_paging_is_consistent(engine):
    full = engine.search(Query(text="shirt", page_size=20))
    p2 = engine.search(Query(text="shirt", page_size=10, page=2))
    assert [h.id for h in p2.hits] == [h.id for h in full.hits[10:20]]


def test_cli_search_and_stats(small_index):
    out = json.loads(cli("stats", "--index", small_index, "--json").stdout)
    assert out["products"] == 200 and out["schema_version"] == 1
    assert out["text_encoder"] == "all-MiniLM-L6-v2" and out["image_encoder"]
    table = cli("search", "red shoes", "--index", small_index, "-k", "3").stdout
    assert "results in" in table and "understood" in table
    bad = cli("search", "--index", small_index, check=False)
    assert bad.returncode == 2 and "give a query" in bad.stderr


def test_text_query_path_never_imports_torch(small_index, tiny_model):
    """Serving runs on onnxruntime: a text search must not pull torch in."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from shopsearch.engine import Engine\nfrom shopsearch.schema import Query\nfrom shopsearch.settings import Settings\n"
        f"e = Engine({str(small_index)!r}, settings=Settings(image_model={str(tiny_model)!r}))\n"
        "r = e.search(Query(text='red shoes'))\nassert r.hits\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
