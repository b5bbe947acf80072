"""The HTTP API against a real server process on loopback, with httpx."""

from __future__ import annotations

import csv
import io
import json
import shutil

import httpx
import pytest
from PIL import Image

from server import running_server

TOKEN = "test-admin-token"


@pytest.fixture(scope="module")
def api(tmp_path_factory, small_index, tiny_model):
    idx = tmp_path_factory.mktemp("api") / "idx"
    shutil.copytree(small_index, idx)
    env = {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model), "SHOPSEARCH_ADMIN_TOKEN": TOKEN,
           "SHOPSEARCH_MAX_UPLOAD_BYTES": "1500000"}
    with running_server(idx, env) as base:
        with httpx.Client(base_url=base, timeout=60) as c:
            c.index_path, c.env = idx, env
            yield c


@pytest.fixture(scope="module")
def rows(small_catalogue):
    return list(csv.DictReader(small_catalogue.open()))


def no_trace(r: httpx.Response) -> httpx.Response:
    assert "Traceback" not in r.text and 'File "' not in r.text
    return r


def test_health_docs_and_page(api):
    h = api.get("/health").json()
    assert h["status"] == "ok" and h["products"] == 200 and h["text_encoder"] == "all-MiniLM-L6-v2"
    assert "/search" in api.get("/openapi.json").json()["paths"]
    assert api.get("/docs").status_code == 200
    page = api.get("/")
    assert page.status_code == 200 and 'id="q"' in page.text and "/static/app.js" in page.text
    assert api.get("/static/app.js").status_code == 200 and "cdn" not in page.text.lower()


def test_get_and_post_search(api):
    r = no_trace(api.get("/search", params={"q": "black shoes", "page_size": 5}))
    d = r.json()
    assert r.status_code == 200 and len(d["hits"]) == 5 and d["total"] >= 5 and d["query_id"]
    assert d["hits"][0]["image_url"].startswith("/images/") and d["hits"][0]["parts"]
    assert "type" in d["facets"] and d["intent"]["colours"] == ["Black"]
    p = api.post("/search", json={"text": "black shoes", "filters": {"type": ["Casual Shoes"]}, "page_size": 50}).json()
    assert p["hits"] and all(h["type"] == "Casual Shoes" for h in p["hits"])
    assert p["facets"]["type"] == {"Casual Shoes": p["total"]}
    g = api.get("/search", params={"q": "shirt", "colour": "Black", "page": 1, "page_size": 3}).json()
    assert all(h["colour"] == "Black" for h in g["hits"])
    p2 = api.get("/search", params={"q": "shirt", "page": 2, "page_size": 3}).json()
    p1 = api.get("/search", params={"q": "shirt", "page": 1, "page_size": 6}).json()
    assert [h["id"] for h in p2["hits"]] == [h["id"] for h in p1["hits"][3:6]]


def test_multipart_photo_search(api, rows, data_dir):
    r = rows[3]
    photo = (data_dir / r["image_hr"]).read_bytes()
    res = no_trace(api.post("/search", files={"image": ("x.bin", photo, "application/octet-stream")},
                            data={"query": json.dumps({"page_size": 5})}))
    assert res.status_code == 200 and res.json()["hits"][0]["id"] == r["id"]


def test_upload_limits_and_sniffing(api):
    big = io.BytesIO()
    Image.effect_noise((1400, 1400), 80).convert("RGB").save(big, "PNG")
    assert big.tell() > 1_500_000
    r = no_trace(api.post("/search", files={"image": ("big.png", big.getvalue(), "image/png")}, data={"query": "{}"}))
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    r = no_trace(api.post("/search", files={"image": ("cat.jpg", b"just some text, not a photo", "image/jpeg")},
                          data={"query": "{}"}))
    assert r.status_code == 415 and "by its content" in r.json()["detail"]


def test_bad_requests_are_clear_4xx(api):
    assert no_trace(api.post("/search", content=b"{not json", headers={"content-type": "application/json"})).status_code == 422
    r = no_trace(api.post("/search", json={"text": "x", "page": 0}))
    assert r.status_code == 422 and "page" in r.json()["detail"]
    assert no_trace(api.post("/search", json={})).status_code == 400
    assert no_trace(api.get("/products/no-such-id")).status_code == 404
    assert no_trace(api.get("/products/no-such-id/similar")).status_code == 404
    assert no_trace(api.get("/images/no-such-id")).status_code == 404
    assert no_trace(api.post("/events", json={"type": "teleport", "session_id": "s"})).status_code == 422


def test_products_similar_images_suggest(api, rows):
    pid = rows[0]["id"]
    p = api.get(f"/products/{pid}").json()
    assert p["id"] == pid and p["title"] == rows[0]["productDisplayName"] and p["image_url"] == f"/images/{pid}"
    sim = api.get(f"/products/{pid}/similar", params={"page_size": 5}).json()
    assert len(sim["hits"]) == 5 and pid not in [h["id"] for h in sim["hits"]]
    img = api.get(f"/images/{pid}")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg" and img.content[:3] == b"\xff\xd8\xff"
    s = api.get("/suggest", params={"q": "bla"}).json()["suggestions"]
    assert s and all(x.startswith("bla") for x in s)


def test_events_are_durable_and_erasable(api, rows):
    e = {"type": "click", "session_id": "sess-1", "user_id": "user-1", "product_id": rows[0]["id"], "position": 2}
    assert api.post("/events", json=e).status_code == 201
    assert api.post("/events", json=dict(e, type="add_to_cart", session_id="sess-2")).status_code == 201
    from shopsearch.events.store import EventStore

    store = EventStore.for_index(api.index_path)  # read by another process: it was committed
    assert [x.type for x in store.for_session("sess-1")] == ["click"]
    assert api.delete("/sessions/sess-1").json() == {"deleted": 1}
    assert store.for_session("sess-1") == []
    assert api.delete("/users/user-1").json() == {"deleted": 1}
    assert store.for_user("user-1") == []


def test_admin_needs_the_token(api, rows, data_dir):
    new = {"id": "admin-1", "title": "Admin Added Purple Umbrella", "type": "Umbrellas", "colour": "Purple",
           "image": str(data_dir / rows[1]["image_hr"])}
    assert no_trace(api.post("/admin/products", json=[new])).status_code == 401
    assert api.post("/admin/products", json=[new], headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = api.post("/admin/products", json=[new], headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["upserted"] == 1
    assert api.get("/products/admin-1").json()["title"] == new["title"]
    hits = api.get("/search", params={"q": "purple umbrella"}).json()["hits"]
    assert hits[0]["id"] == "admin-1"
    assert api.delete("/admin/products/admin-1", headers={"Authorization": f"Bearer {TOKEN}"}).json() == {"deleted": 1}
    assert api.get("/products/admin-1").status_code == 404


def test_admin_is_off_without_a_token(tmp_path, small_index, tiny_model):
    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)
    with running_server(idx, {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model), "SHOPSEARCH_ADMIN_TOKEN": ""}) as base:
        r = httpx.post(f"{base}/admin/products", json=[], headers={"Authorization": "Bearer anything"})
        assert r.status_code == 403 and "off" in r.json()["detail"]


def test_events_survive_a_restart(tmp_path, small_index, tiny_model, rows):
    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)
    env = {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model)}
    with running_server(idx, env) as base:
        assert httpx.post(f"{base}/events", json={"type": "purchase", "session_id": "r", "product_id": rows[2]["id"]}).status_code == 201
    with running_server(idx, env) as base:
        # the personalised search reads the event written before the restart
        d = httpx.get(f"{base}/search", params={"q": "shoes", "session": "r"}, timeout=60).json()
        assert d["profile"] and d["profile"]["events"] == 1
