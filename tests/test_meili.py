"""The Meilisearch-compatible API and API keys: the official Meilisearch Python
client and a real InstantSearch page (Chromium) against a real server; the filter
syntax's parser and compiler on their own."""

from __future__ import annotations

import base64
import csv
import functools
import http.server
import json
import math
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from conftest import cli
from server import free_port, running_server

from shopsearch.api.filter_syntax import (NOTHING, And, Columns, Cond, FilterError, Not, Or, compile_filter, parse,
                                          parse_filter)

TOKEN = "meili-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ASSETS = Path(__file__).resolve().parent / "assets" / "instantsearch"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
PRICED = [{"id": f"mug-{i}", "title": f"Meili Test Mug {c}", "type": "Mugs", "colour": c, "gender": "Unisex",
           "price": p, "attrs": {"season": "Summer", "year": "2020"}}
          for i, (c, p) in enumerate([("Red", 10.0), ("Blue", 20.0), ("Red", 30.0), ("Green", 40.5), ("Blue", 50.0)])]


# -- the filter syntax, on its own --------------------------------------------------

def test_filter_syntax_parses_meilisearch_expressions():
    assert parse("colour = Black") == Cond("colour", "=", ("Black",), 0)
    assert parse('"type" = "Casual Shoes"') == Cond("type", "=", ("Casual Shoes",), 0)
    assert parse("price 10 TO 20.5") == Cond("price", "TO", ("10", "20.5"), 0)
    assert parse("colour IN [Black, 'Navy Blue',]") == Cond("colour", "IN", ("Black", "Navy Blue"), 0)
    assert parse("colour not in [Black]").op == "NOT_IN"  # keywords are case-blind
    assert parse("brand EXISTS").op == "EXISTS" and parse("brand NOT EXISTS").op == "NOT_EXISTS"
    assert parse("brand IS EMPTY").op == "EMPTY" and parse("price IS NOT NULL").op == "NOT_NULL"
    for op in ("=", "!=", ">", ">=", "<", "<="):
        assert parse(f"price {op} 3").op == op
    # AND binds tighter than OR; NOT tighter than both; brackets override
    t = parse("a = 1 OR b = 2 AND NOT c = 3")
    assert isinstance(t, Or) and isinstance(t.items[1], And) and isinstance(t.items[1].items[1], Not)
    t = parse("(a = 1 OR b = 2) AND c = 3")
    assert isinstance(t, And) and isinstance(t.items[0], Or)
    assert parse(r'title = "say \"hi\""').values == ('say "hi"',)
    # arrays: the outer one ANDs, an inner one ORs (InstantSearch's facetFilters)
    t = parse_filter(['gender = Men', ['"type"="Shirts"', '"type"="Tshirts"']])
    assert isinstance(t, And) and isinstance(t.items[1], Or) and t.items[1].items[0].attr == "type"
    assert parse_filter(None) is None and parse_filter([]) is None and parse_filter("  ") is None


@pytest.mark.parametrize("src,says", [
    ("colour = Navy Blue", "unexpected `Blue` at 15"),
    ("colour =", "expected a value after `=`, found the end of the filter at 9"),
    ("(colour = Black", "expected `)` to close the `(` at 1"),
    ("colour IN [Black, Blue", "expected `,` or `]` in the list opened at 11"),
    ("colour IN Black", "expected `[` after `IN`"),
    ("price 10 TO", "expected the upper bound after `TO`"),
    ("price 10 20", "expected `TO`"),
    ("colour == Black", "expected a value after `=`"),
    ("colour ! Black", "`!` at 8 is not an operator"),
    ("AND colour = Black", "expected an attribute name"),
    ("colour = 'Black", "never closed"),
    ("colour = AND", "quote it if it is a keyword"),
    ("colour", "expected an operator after `colour`"),
    ("_geoRadius(1, 2, 3)", "geo filters"),
    ("", "empty"),
])
def test_filter_syntax_errors_name_the_position(src, says):
    with pytest.raises(FilterError) as e:
        parse(src) if src else parse("")
    assert says in str(e.value), str(e.value)


def test_filter_syntax_errors_in_arrays_name_the_item():
    with pytest.raises(FilterError, match=r"filter\[1\]\[0\]: expected a value"):
        parse_filter(["colour = Black", ["type ="]])
    with pytest.raises(FilterError, match="neither a string"):
        parse_filter([3])


def _columns():
    cols = {"type": np.array(["Shirts", "Shirts", "Watches", "Jeans", ""], dtype=object),
            "colour": np.array(["Black", "White", "Black", "Blue", "Red"], dtype=object),
            "year": np.array(["2011", "2012", "2016", "x", ""], dtype=object),
            "price": np.array([10.0, 20.0, np.nan, 40.0, 50.0])}
    ids = ["a", "b", "c", "d", "e"]
    return Columns(cols.__getitem__, lambda: ids), ids, set(cols) | {"id"}


@pytest.mark.parametrize("src,fast,want", [
    ("colour = black", True, "ac"),  # case-blind, like the engine's own filters
    ("type = Shirts AND colour IN [Black, Blue]", True, "a"),
    ("price >= 20 AND price < 50", True, "bd"),
    ("price 10 TO 20", True, "ab"),
    ("colour = Black OR type = Jeans", False, "acd"),  # OR across fields: a mask
    ("NOT colour = Black", False, "bde"),
    ("colour != Black", False, "bde"),
    ("year > 2011", False, "bc"),  # a text attribute compared as a number where it is one
    ("year 2011 TO 2012", False, "ab"),
    ("type IS EMPTY", False, "e"),
    ("price NOT EXISTS", False, "c"),
    ("type = Shirts AND type = Watches", False, ""),  # nothing: never "no filter"
    ("id IN [a, e]", True, "ae"),
])
def test_filter_compiles_fast_or_to_a_mask(src, fast, want):
    cols, ids, filterable = _columns()
    comp = compile_filter(parse(src), cols, lambda: ids, filterable)
    assert comp.fast == fast
    if fast:
        f = comp.filters
        got = [i for i in range(5) if _matches(f, cols, i)]
    else:
        got = list(np.flatnonzero(comp.mask))
        assert comp.filters.ids == ([ids[i] for i in got] or [NOTHING])
    assert "".join(ids[i] for i in got) == want


def _matches(f, cols, i) -> bool:
    """What the engine's filter_mask does with Filters, for the table above."""
    for name in ("type", "colour"):
        vals = getattr(f, name)
        if vals and cols.lower(name)[i] not in {v.lower() for v in vals}:
            return False
    p = cols.numeric("price")[i]
    if f.price_min is not None and not p >= f.price_min:
        return False
    if f.price_max is not None and not p <= f.price_max:
        return False
    return not f.ids or cols.lower("id")[i] in f.ids


def test_filter_on_an_unknown_attribute_is_refused():
    cols, ids, filterable = _columns()
    with pytest.raises(FilterError, match="`size` is not filterable; the filterable attributes are `colour`"):
        compile_filter(parse("size = M"), cols, lambda: ids, filterable)
    with pytest.raises(FilterError, match="`abc` is not one"):
        compile_filter(parse("price > abc"), cols, lambda: ids, filterable)


# -- the server, through the official Python client --------------------------------

@pytest.fixture(scope="module")
def rows(small_catalogue):
    return list(csv.DictReader(small_catalogue.open()))


@pytest.fixture(scope="module")
def site(tmp_path_factory, small_index, tiny_model):
    idx = tmp_path_factory.mktemp("meili") / "idx"
    shutil.copytree(small_index, idx)
    page_port = free_port()
    env = {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model), "SHOPSEARCH_ADMIN_TOKEN": TOKEN,
           "SHOPSEARCH_CORS_ORIGINS": json.dumps([f"http://127.0.0.1:{page_port}"])}
    with running_server(idx, env) as base:
        r = httpx.post(f"{base}/admin/products", json=PRICED, headers=AUTH, timeout=60)
        assert r.json()["upserted"] == len(PRICED), r.text
        yield SimpleNamespace(base=base, index=idx, page_port=page_port, env=env)


@pytest.fixture(scope="module")
def client(site):
    import meilisearch

    return meilisearch.Client(site.base)


def ids(res) -> list[str]:
    return [h["id"] for h in res["hits"]]


def test_client_sees_a_meilisearch_server(client, site):
    assert client.is_healthy() and client.health()["status"] == "available"
    assert httpx.get(f"{site.base}/health").json()["products"] == 200 + len(PRICED)  # the richer health stays
    ix = client.get_index("products")
    assert ix.uid == "products" and ix.primary_key == "id" and ix.created_at is not None
    assert [i.uid for i in client.get_indexes()["results"]] == ["products"]
    assert client.get_version()["pkgVersion"]
    doc = client.index("products").get_document("mug-3")
    assert (doc.id, doc.price, doc.colour, doc.season) == ("mug-3", 40.5, "Green", "Summer")  # attrs at the top level


def test_client_search_with_a_filter_and_facets(client, site, rows):
    res = client.index("products").search("shirt", {"filter": "colour = Black OR colour = White",
                                                     "facets": ["type", "colour", "season"], "limit": 5})
    assert len(res["hits"]) == 5 and all(h["colour"] in ("Black", "White") for h in res["hits"])
    total = res["estimatedTotalHits"]
    native = httpx.post(f"{site.base}/search", json={"text": "shirt", "filters": {"colour": ["Black", "White"]}}).json()
    assert total == native["total"] and ids(res) == [h["id"] for h in native["hits"][:5]]  # the same engine
    fd = res["facetDistribution"]
    assert set(fd["colour"]) == {"Black", "White"} and sum(fd["colour"].values()) == total  # over the filtered hits
    assert sum(fd["type"].values()) == total and 0 < sum(fd["season"].values()) <= total
    assert res["facetStats"] == {}
    assert {"hits", "query", "processingTimeMs", "limit", "offset", "estimatedTotalHits"} <= set(res)


def test_client_paging_both_ways(client):
    ix = client.index("products")
    head = ix.search("shoes", {"limit": 9})
    assert ids(ix.search("shoes", {"offset": 3, "limit": 3})) == ids(head)[3:6]
    assert ids(ix.search("shoes", {"offset": 4, "limit": 3})) == ids(head)[4:7]  # a window off the engine's pages
    p2 = ix.search("shoes", {"hitsPerPage": 3, "page": 2})
    assert ids(p2) == ids(head)[3:6]
    assert p2["totalHits"] == head["estimatedTotalHits"] and p2["totalPages"] == math.ceil(p2["totalHits"] / 3)
    assert p2["page"] == 2 and p2["hitsPerPage"] == 3 and "estimatedTotalHits" not in p2
    assert ix.search("shoes", {"limit": 0})["hits"] == [] and ix.search("shoes", {"hitsPerPage": 0})["totalPages"] == 0


def test_client_browses_with_two_filters(client, rows):
    res = client.index("products").search("", {"filter": ["gender = Men", "type IN [Shirts, Tshirts]"],
                                                "facets": ["type", "gender", "season"], "hitsPerPage": 100})
    want = [r for r in rows if r["gender"] == "Men" and r["articleType"] in ("Shirts", "Tshirts")]
    assert res["totalHits"] == len(want) and set(ids(res)) == {r["id"] for r in want}
    fd = res["facetDistribution"]
    assert fd["type"] == {t: n for t, n in sorted(((t, sum(r["articleType"] == t for r in want)) for t in
                                                   ("Shirts", "Tshirts")), key=lambda x: -x[1]) if n}
    assert fd["gender"] == {"Men": len(want)}
    assert sum(fd["season"].values()) == sum(1 for r in want if r["season"])


def test_client_multi_search(client):
    out = client.multi_search([{"indexUid": "products", "q": "watch", "limit": 2},
                               {"indexUid": "products", "q": "", "filter": "price > 15", "sort": ["price:desc"],
                                "hitsPerPage": 10, "facets": ["price", "colour"]}])["results"]
    assert [r["indexUid"] for r in out] == ["products", "products"]
    assert len(out[0]["hits"]) == 2 and "Watches" in {h["type"] for h in out[0]["hits"]}
    assert ids(out[1]) == ["mug-4", "mug-3", "mug-2", "mug-1"]  # price:desc, only the priced products pass
    assert out[1]["facetStats"] == {"price": {"min": 20.0, "max": 50.0}}
    assert out[1]["facetDistribution"]["price"] == {"20": 1, "30": 1, "40.5": 1, "50": 1}


def test_filters_the_fast_way_and_the_mask_way_agree_with_the_catalogue(client, rows):
    ix = client.index("products")

    def browse(f):
        return set(ids(ix.search("", {"filter": f, "limit": 1000})))

    mugs = [{"id": m["id"], "gender": m["gender"], "articleType": m["type"], "baseColour": m["colour"], "usage": "",
             **m["attrs"]} for m in PRICED]

    def where(pred):
        return {r["id"] for r in rows + mugs if pred(r)}

    assert browse("colour = Black OR gender = Women") == where(lambda r: r["baseColour"] == "Black" or
                                                                r["gender"] == "Women")
    assert browse("NOT type = Watches AND season = Summer") == where(lambda r: r["articleType"] != "Watches" and
                                                                      r["season"] == "Summer")
    assert browse("year > 2012 AND usage != Casual") == where(lambda r: r["year"] and int(r["year"]) > 2012 and
                                                               r["usage"] != "Casual")
    assert browse("year 2011 TO 2012") == where(lambda r: r["year"] and 2011 <= int(r["year"]) <= 2012)
    assert browse("price 20 TO 40.5") == {"mug-1", "mug-2", "mug-3"} and browse("price < 20") == {"mug-0"}
    assert browse("colour = Red AND type = Mugs") == {"mug-0", "mug-2"}
    assert browse("type = Mugs AND type = Watches") == set()


def test_highlight_retrieve_score_sort_and_extras(client, site, rows, data_dir):
    ix = client.index("products")
    res = ix.search("black watch", {"attributesToHighlight": ["title"], "attributesToRetrieve": ["id", "title", "type"],
                                    "showRankingScore": True, "limit": 5})
    h = res["hits"][0]
    assert set(h) == {"id", "title", "type", "_formatted", "_rankingScore"}
    assert "<em>" in h["_formatted"]["title"] and h["_formatted"]["title"].replace("<em>", "").replace("</em>", "") \
        == h["title"]
    scores = [x["_rankingScore"] for x in res["hits"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert res["intent"]["colours"] == ["Black"]  # Shopsearch's parsed intent rides along
    assert ids(ix.search("mug", {"sort": ["price:asc"], "filter": "type = Mugs"})) == [f"mug-{i}" for i in range(5)]
    row = rows[4]
    photo = base64.b64encode((data_dir / row["image_hr"]).read_bytes()).decode()
    by_photo = ix.search("", {"image": f"data:image/jpeg;base64,{photo}", "limit": 3})
    assert ids(by_photo)[0] == row["id"]
    assert ids(ix.search("", {"imageId": row["id"], "limit": 3}))[0] == row["id"]
    kw = ix.search("navy shirt", {"hybrid": {"semanticRatio": 0.0}, "limit": 10})
    sem = ix.search("navy shirt", {"hybrid": {"semanticRatio": 1.0, "embedder": "default"}, "limit": 10})
    assert ids(kw) != ids(sem)
    strict = ix.search("black watch", {"intent": "strict", "limit": 50})
    assert strict["hits"] and all(x["colour"] == "Black" and x["type"] == "Watches" for x in strict["hits"])
    r = httpx.get(f"{site.base}/indexes/products/search", params={"q": "watch", "filter": "colour = Black",
                                                                 "facets": "colour,type", "limit": "2"}).json()
    assert len(r["hits"]) == 2 and set(r["facetDistribution"]["colour"]) == {"Black"}


def test_errors_in_meilisearch_shape_for_this_api_only(client, site):
    from meilisearch.errors import MeilisearchApiError

    with pytest.raises(MeilisearchApiError) as e:
        client.index("products").search("shirt", {"filter": "colour = Navy Blue"})
    assert e.value.code == "invalid_search_filter" and "at 15" in e.value.message
    assert e.value.link.endswith("#invalid_search_filter") and e.value.type == "invalid_request"
    with pytest.raises(MeilisearchApiError) as e:
        client.index("movies").search("x")
    assert e.value.code == "index_not_found"
    with pytest.raises(MeilisearchApiError) as e:
        client.index("products").search("x", {"facets": ["nope"]})
    assert e.value.code == "invalid_search_facets"
    for body, code in [({"limit": -1}, "invalid_search_limit"), ({"q": 3}, "invalid_search_q"),
                       ({"sort": ["colour:asc"]}, "invalid_search_sort"), ({"wat": 1}, "bad_request"),
                       ({"image": "http://127.0.0.1:1/x.jpg"}, "invalid_search_image"),
                       ({"vector": [0.1]}, "feature_not_supported")]:
        r = httpx.post(f"{site.base}/indexes/products/search", json=body)
        assert r.status_code == 400 and r.json()["code"] == code and set(r.json()) == {"message", "code", "type",
                                                                                        "link"}, (body, r.text)
    r = httpx.post(f"{site.base}/indexes/products/search", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_payload"
    r = httpx.post(f"{site.base}/multi-search", json={"queries": [{"indexUid": "products", "q": "x"},
                                                                  {"indexUid": "products", "filter": "a ="}]})
    assert r.status_code == 400 and r.json()["message"].startswith("Inside `.queries[1]`:")
    assert httpx.get(f"{site.base}/indexes/products/documents/nope").json()["code"] == "document_not_found"
    native = httpx.post(f"{site.base}/search", json={"page": 0})  # the native API keeps its own shape
    assert native.status_code == 422 and set(native.json()) == {"detail"}


# -- keys ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keyed(tmp_path_factory, small_index, tiny_model):
    idx = tmp_path_factory.mktemp("keys") / "idx"
    shutil.copytree(small_index, idx)
    env = {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model), "SHOPSEARCH_ADMIN_TOKEN": TOKEN}
    with running_server(idx, env) as base:
        with httpx.Client(base_url=base, timeout=60) as c:
            c.index_path, c.env = idx, env
            yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_search_only_admin_and_revocation(keyed):
    import meilisearch
    from meilisearch.errors import MeilisearchApiError

    assert keyed.get("/search", params={"q": "shirt"}).status_code == 200  # open while no search key exists
    r = keyed.post("/admin/keys", json={"name": "storefront", "scope": "search"}, headers=AUTH)
    assert r.status_code == 201
    search_key, sid = r.json()["key"], r.json()["id"]
    listed = keyed.get("/admin/keys", headers=AUTH)
    assert listed.status_code == 200 and search_key not in listed.text and "key" not in listed.json()[0]
    db = (keyed.index_path / "keys.sqlite").read_bytes()
    assert search_key.encode() not in db  # stored hashed
    # now search needs a key: the search key, an admin key, or the admin token
    r = keyed.get("/search", params={"q": "shirt"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert keyed.post("/indexes/products/search", json={}).json()["code"] == "missing_authorization_header"
    assert keyed.get("/search", params={"q": "shirt"}, headers=bearer(search_key)).status_code == 200
    assert keyed.get("/search", params={"q": "shirt"}, headers=AUTH).status_code == 200
    assert keyed.get("/health").json()["status"] == "available"  # health stays open
    res = meilisearch.Client(keyed.base_url.__str__(), search_key).index("products").search("shirt", {"limit": 2})
    assert len(res["hits"]) == 2
    # a wrong key is refused, in each API's shape
    assert keyed.get("/search", params={"q": "x"}, headers=bearer("ssk_s_wrong")).status_code == 401
    with pytest.raises(MeilisearchApiError) as e:
        meilisearch.Client(str(keyed.base_url), "wrong").index("products").search("shirt")
    assert e.value.code == "invalid_api_key" and e.value.type == "auth"
    # a search-only key is refused on admin endpoints; an admin key is not
    for call in (lambda h: keyed.post("/admin/products", json=[], headers=h),
                 lambda h: keyed.get("/admin/keys", headers=h),
                 lambda h: keyed.post("/admin/keys", json={"name": "x"}, headers=h)):
        r = call(bearer(search_key))
        assert r.status_code == 403 and "search-only" in r.json()["detail"]
    admin_key = keyed.post("/admin/keys", json={"name": "ops", "scope": "admin"}, headers=AUTH).json()["key"]
    assert keyed.post("/admin/products", json=[], headers=bearer(admin_key)).status_code == 200
    assert keyed.get("/search", params={"q": "x"}, headers=bearer(admin_key)).status_code == 200
    # revoked: refused at once
    r = keyed.delete(f"/admin/keys/{sid}", headers=bearer(admin_key))
    assert r.status_code == 200 and r.json()["revoked"]
    assert keyed.get("/search", params={"q": "shirt"}, headers=bearer(search_key)).status_code == 401
    assert keyed.delete("/admin/keys/no-such-key", headers=AUTH).status_code == 404


def test_key_rate_limit_answers_429_with_retry_after(keyed):
    k = keyed.post("/admin/keys", json={"name": "tight", "rate_limit_per_minute": 3}, headers=AUTH).json()["key"]
    codes = [keyed.post("/indexes/products/search", json={"q": "shirt", "limit": 1}, headers=bearer(k)).status_code
             for _ in range(3)]
    assert codes == [200, 200, 200]
    r = keyed.post("/indexes/products/search", json={"q": "shirt"}, headers=bearer(k))
    assert r.status_code == 429 and r.json()["code"] == "too_many_search_requests"
    assert 1 <= int(r.headers["retry-after"]) <= 20
    r = keyed.get("/search", params={"q": "shirt"}, headers=bearer(k))  # the native API counts the same bucket
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "3 requests a minute" in r.json()["detail"]
    assert keyed.get("/search", params={"q": "shirt"}, headers=AUTH).status_code == 200  # the token has no limit


def test_keys_cli_create_list_revoke_against_a_running_server(keyed):
    idx = keyed.index_path
    made = json.loads(cli("keys", "create", "kiosk", "--index", idx, "--json").stdout)
    assert made["scope"] == "search" and made["key"].startswith("ssk_")

    def status() -> int:
        return keyed.get("/search", params={"q": "shirt"}, headers=bearer(made["key"])).status_code

    deadline = time.time() + 5
    while status() != 200 and time.time() < deadline:  # the server re-reads the store within a second
        time.sleep(0.2)
    assert status() == 200
    listing = cli("keys", "list", "--index", idx).stdout
    assert made["id"] in listing and "kiosk" in listing and made["key"] not in listing
    assert "revoked" in cli("keys", "revoke", made["id"], "--index", idx).stdout
    deadline = time.time() + 5
    while status() != 401 and time.time() < deadline:
        time.sleep(0.2)
    assert status() == 401
    assert cli("keys", "revoke", "nope", "--index", idx, check=False).returncode == 2
    with sqlite3.connect(idx / "keys.sqlite") as db:
        assert db.execute("SELECT revoked FROM api_keys WHERE id=?", (made["id"],)).fetchone()[0] is not None


# -- InstantSearch in Chromium --------------------------------------------------------

@pytest.fixture(scope="module")
def page_server(site):
    """The test page and its bundles, served from loopback on the port the API lets in (CORS)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", site.page_port),
                                          functools.partial(Quiet, directory=str(ASSETS)))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{site.page_port}"
    srv.shutdown()
    srv.server_close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_instantsearch_page_against_shopsearch(site, page_server):
    from playwright.sync_api import sync_playwright

    shots = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        remote: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1:", "data:", "blob:"))
              else remote.append(r.url))
        try:
            # the operator's search-only key, as a shop's page would carry it (this test runs last on
            # this server: from here on its search needs a key)
            key = httpx.post(f"{site.base}/admin/keys", json={"name": "page"}, headers=AUTH).json()["key"]
            assert httpx.post(f"{site.base}/multi-search", json={"queries": []}).status_code == 401
            pg.goto(f"{page_server}/index.html?host={site.base}&key={key}")
            pg.wait_for_selector(".hit")

            def shown() -> list[str]:
                return pg.locator(".hit").evaluate_all("els => els.map(e => e.dataset.id)")

            browse = shown()
            assert len(browse) == 8
            # a colour and no type: what matches spans several types, so the refinement list has a choice
            # (a query naming a type counts that type alone)
            pg.fill(".ais-SearchBox-input", "black")
            pg.wait_for_function("[...document.querySelectorAll('.hit')].every(e => e.dataset.type) && "
                                 "document.querySelector('.hit mark') !== null && "
                                 "document.querySelectorAll('.ais-RefinementList-item').length > 1")
            hits = shown()
            assert hits != browse
            before = pg.inner_text("#stats")
            first = pg.locator(".ais-RefinementList-item").nth(1)
            value = first.locator(".ais-RefinementList-labelText").inner_text()
            count = int(first.locator(".ais-RefinementList-count").inner_text())
            # by its value: a picked item moves to the top of the list
            box = pg.locator(f".ais-RefinementList-checkbox[value='{value}']")
            box.check()
            pg.wait_for_function("(v) => [...document.querySelectorAll('.hit')].every(e => e.dataset.type === v)",
                                 arg=value)
            assert pg.inner_text("#stats") != before and f"{count} result" in pg.inner_text("#stats")
            box.uncheck()
            pg.wait_for_function("(b) => document.querySelector('#stats').innerText === b", arg=before)
            page1 = shown()
            pg.locator(".ais-Pagination-item--page").nth(1).locator("a").click()
            pg.wait_for_function("(p1) => { const ids = [...document.querySelectorAll('.hit')].map(e => e.dataset.id);"
                                 " return ids.length && ids.every(i => !p1.includes(i)); }", arg=page1)
            assert set(shown()).isdisjoint(page1)
            assert pg.locator(".hit img").count() == 8  # photos from the Shopsearch server
            pg.wait_for_function("[...document.querySelectorAll('.hit img')].every(i => i.complete && i.naturalWidth)")
            pg.screenshot(path=str(shots / "instantsearch.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert not remote, remote


def test_filter_parser_never_fails_otherwise_on_any_string():
    """Any text either parses or is a FilterError (a 400), never another exception (a 500)."""
    from hypothesis import given, settings, strategies as st

    cols, ids, filterable = _columns()
    alphabet = st.sampled_from(list("()[],=!<>'\"\\ \t") + ["colour", "price", "year", "AND", "OR", "NOT", "TO",
                                                             "IN", "EXISTS", "IS", "NULL", "EMPTY", "Black",
                                                             "10", "2.5", "nan", "inf", "-1", "é", "\x00"])

    @settings(max_examples=400, deadline=None)
    @given(st.lists(alphabet, max_size=14).map(" ".join) | st.text(max_size=40))
    def check(src):
        try:
            node = parse_filter(src)
            compile_filter(node, cols, lambda: ids, filterable)
        except FilterError:
            pass

    check()
