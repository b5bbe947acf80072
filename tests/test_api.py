"""The HTTP API against a real server process on loopback, with httpx."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import httpx
import pytest
from PIL import Image

from server import running_server

from shopsearch.api.uploads import sniff

TOKEN = "test-admin-token"


@pytest.fixture(scope="module")
def api(tmp_path_factory, small_index, tiny_model, data_dir):
    idx = tmp_path_factory.mktemp("api") / "idx"
    shutil.copytree(small_index, idx)
    env = {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model), "SHOPSEARCH_ADMIN_TOKEN": TOKEN, "SHOPSEARCH_IMAGES_ROOT": str(data_dir),
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
    assert h["status"] == "available" and h["products"] == 200 and h["text_encoder"] == "all-MiniLM-L6-v2"
    spec = api.get("/openapi.json").json()
    assert {"/search", "/products/{product_id}", "/events", "/suggest", "/health"} <= set(spec["paths"])
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert "SearchRequest" in refs and refs <= set(spec["components"]["schemas"])  # every schema it names is there
    docs = api.get("/docs")
    assert docs.status_code == 200 and not re.search(r"(src|href)=['\"]?(https?:)?//", docs.text)  # nothing remote
    for asset in re.findall(r"/docs-assets/[\w.-]+\.(?:js|css)", docs.text):
        assert api.get(asset).status_code == 200
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
    assert p["facets"]["type"]["Casual Shoes"] == p["total"] and len(p["facets"]["type"]) > 1  # others stay pickable
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


def test_sniffing_reads_the_bytes_not_the_name():
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    webp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(webp, "WEBP")
    assert sniff(png.getvalue(), "image") == "image/png" and sniff(webp.getvalue(), "image") == "image/webp"
    assert sniff(b"GIF89a....", "image") == "image/gif" and sniff(b"\xff\xd8\xff\xe0", "image") == "image/jpeg"
    assert sniff(b"RIFF\x10\0\0\0WAVEfmt ", "audio") == "audio/wav"
    assert sniff(b"RIFF\x10\0\0\0WAVEfmt ", "image") == ""  # RIFF alone is no photo
    assert sniff(b"OggS\0\2", "audio") == "audio/ogg" and sniff(b"fLaC\0\0", "audio") == "audio/flac"
    assert sniff(b"ID3\4\0", "audio") == sniff(b"\xff\xfb\x90\x64", "audio") == "audio/mpeg"
    assert sniff(b"\x1a\x45\xdf\xa3\x9f", "audio") == "audio/webm" and sniff(b"\x1a\x45\xdf\xa3", "video") == "video/webm"
    assert sniff(b"\0\0\0\x20ftypisom\0\0", "video") == "video/mp4"
    assert sniff(b"\0\0\0\x14ftypqt  \0\0", "video") == "video/quicktime"
    assert sniff(b"\0\0\0\x08wide\0\0", "video") == "video/quicktime"
    assert sniff(png.getvalue(), "audio") == sniff(png.getvalue(), "video") == ""
    assert sniff(b"<html><body>hello</body></html>", "image") == sniff(b"hello", "audio") == ""


def test_corrupt_and_oversized_bodies(api, rows, data_dir):
    photo = (data_dir / rows[3]["image_hr"]).read_bytes()
    r = no_trace(api.post("/search", files={"image": ("cut.jpg", photo[: len(photo) // 3], "image/jpeg")},
                          data={"query": "{}"}))
    assert r.status_code == 422 and "cannot decode" in r.json()["detail"]
    # declared body beyond the limit (4 uploads + 1 MB): refused before it is read
    huge = b"\xff\xd8\xff" + bytes(8_000_000)
    r = no_trace(api.post("/search", files={"image": ("huge.jpg", huge, "image/jpeg")}, data={"query": "{}"}))
    assert r.status_code == 413
    # the same body streamed without a length is cut off as it arrives
    boundary = "xyzzy"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"s.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()

    def chunks():
        yield head
        for _ in range(80):
            yield bytes(100_000)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = no_trace(api.post("/search", content=chunks(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}))
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    two = [("image", ("a.jpg", photo, "image/jpeg")), ("image", ("b.jpg", photo, "image/jpeg"))]
    r = no_trace(api.post("/search", files=two, data={"query": json.dumps({"page_size": 3})}))
    assert r.status_code == 200 and r.json()["hits"][0]["id"] == rows[3]["id"]
    r = no_trace(api.post("/search", files=[("image", ("a.jpg", photo, "image/jpeg"))] * 5, data={"query": "{}"}))
    assert r.status_code == 400 and "at most 4" in r.json()["detail"]
    r = no_trace(api.post("/search", content=b"q=shoes", headers={"content-type": "text/plain"}))
    assert r.status_code == 415


def test_bad_requests_are_clear_4xx(api):
    assert no_trace(api.post("/search", content=b"{not json", headers={"content-type": "application/json"})).status_code == 422
    r = no_trace(api.post("/search", json={"text": "x", "page": 0}))
    assert r.status_code == 422 and "page" in r.json()["detail"]
    assert no_trace(api.post("/search", json={})).status_code == 400
    assert no_trace(api.get("/products/no-such-id")).status_code == 404
    assert no_trace(api.get("/products/no-such-id/similar")).status_code == 404
    assert no_trace(api.get("/images/no-such-id")).status_code == 404
    assert no_trace(api.post("/events", json={"type": "teleport", "session_id": "s"})).status_code == 422
    r = no_trace(api.post("/events", json={"type": "click", "product_id": "x"}))
    assert r.status_code == 422 and "session_id" in r.json()["detail"]
    assert no_trace(api.post("/events", json={"type": "click", "session_id": "s", "product_id": "nope"})).status_code == 404
    for params in ({"q": "x", "page": "abc"}, {"q": "x", "sort": "cheapest"}, {"q": "x", "page_size": 0},
                   {"q": "x", "price_min": "cheap"}):
        r = no_trace(api.get("/search", params=params))
        assert r.status_code == 422 and r.json()["detail"], params
    r = no_trace(api.post("/search", data={"query": "{not json"}, files={"image": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}))
    assert r.status_code == 422 and r.json()["detail"].startswith("query:")
    assert no_trace(api.delete("/admin/products/no-such-id", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 404


def test_sort_facets_chinese_and_page(api):
    d = api.get("/search", params={"q": "shirt", "sort": "title", "page_size": 10}).json()
    titles = [h["title"] for h in d["hits"]]
    assert titles == sorted(titles, key=str.lower) or titles == sorted(titles)
    w = api.get("/search", params={"q": "watch", "type": "Watches", "page_size": 50}).json()
    assert w["total"] == sum(w["facets"]["colour"].values()) == sum(w["facets"]["gender"].values())
    assert w["facets"]["type"]["Watches"] == w["total"]
    zh = api.get("/search", params={"q": "黑色手表", "page_size": 5}).json()
    assert zh["intent"]["language"] == "zh" and zh["hits"][0]["type"] == "Watches" and zh["hits"][0]["colour"] == "Black"
    page = api.get("/", params={"q": '"><script>alert(1)</script>'})
    assert page.status_code == 200 and "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert "200 products" in page.text


def test_products_similar_images_suggest(api, rows, data_dir):
    pid = rows[0]["id"]
    p = api.get(f"/products/{pid}").json()
    assert p["id"] == pid and p["title"] == rows[0]["productDisplayName"] and p["image_url"] == f"/images/{pid}"
    sim = api.get(f"/products/{pid}/similar", params={"page_size": 5}).json()
    assert len(sim["hits"]) == 5 and pid not in [h["id"] for h in sim["hits"]]
    img = api.get(f"/images/{pid}")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg" and img.content[:3] == b"\xff\xd8\xff"
    assert img.content == (data_dir / rows[0]["image_hr"]).read_bytes() and "max-age" in img.headers["cache-control"]
    again = api.get(f"/images/{pid}", headers={"If-None-Match": img.headers["etag"]})
    assert again.status_code == 304 and not again.content
    s = api.get("/suggest", params={"q": "bla"}).json()["suggestions"]
    assert s and all(x.startswith("bla") for x in s)
    assert api.get("/suggest", params={"q": "bla", "limit": 2}).json()["suggestions"] == s[:2]
    assert api.get("/suggest", params={"q": "  "}).json()["suggestions"] == []
    assert sim["query_id"] and all(h["image_url"] == f"/images/{h['id']}" for h in sim["hits"])


def test_events_are_durable_and_erasable(api, rows):
    qid = api.get("/search", params={"q": "shoes", "session": "sess-1"}).json()["query_id"]
    e = {"type": "click", "session_id": "sess-1", "user_id": "user-1", "product_id": rows[0]["id"], "position": 2,
         "query_id": qid, "query_text": "shoes"}
    assert api.post("/events", json=e).status_code == 201
    assert api.post("/events", json=dict(e, type="add_to_cart", session_id="sess-2")).status_code == 201
    assert api.post("/events", json={"type": "view", "session_id": "sess-3"}).status_code == 201
    from shopsearch.events.store import EventStore

    store = EventStore.for_index(api.index_path)  # read by another process: it was committed
    [ev] = store.for_session("sess-1")
    assert (ev.type, ev.product_id, ev.position, ev.query_id, ev.user_id) == ("click", rows[0]["id"], 2, qid, "user-1")
    assert ev.ts > 0 and [x.type for x in store.for_session("sess-3")] == ["view"]
    assert api.delete("/sessions/sess-1").json() == {"deleted": 1}
    assert store.for_session("sess-1") == []
    assert api.delete("/users/user-1").json() == {"deleted": 1}
    assert store.for_user("user-1") == [] and store.for_session("sess-2") == []
    assert api.delete("/sessions/never-seen").json() == {"deleted": 0}


def test_admin_needs_the_token(api, rows, data_dir):
    new = {"id": "admin-1", "title": "Admin Added Purple Umbrella", "type": "Umbrellas", "colour": "Purple",
           "image": str(data_dir / rows[1]["image_hr"])}
    r = no_trace(api.post("/admin/products", json=[new]))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert api.post("/admin/products", json=[new], headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = api.post("/admin/products", json=[new], headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["upserted"] == 1
    assert api.get("/products/admin-1").json()["title"] == new["title"]
    hits = api.get("/search", params={"q": "purple umbrella"}).json()["hits"]
    assert hits[0]["id"] == "admin-1"
    assert api.get("/images/admin-1").content == (data_dir / rows[1]["image_hr"]).read_bytes()
    bad = dict(new, id="admin-2", image=str(data_dir / "no-such-photo.jpg"))
    r = api.post("/admin/products", json=[bad], headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["upserted"] == 0 and len(r.json()["errors"]) == 1
    assert api.get("/products/admin-2").status_code == 404
    r = no_trace(api.post("/admin/products", json=[{"title": "no id"}], headers={"Authorization": f"Bearer {TOKEN}"}))
    assert r.status_code == 422
    assert api.delete("/admin/products/admin-1").status_code == 401
    assert api.delete("/admin/products/admin-1", headers={"Authorization": f"Bearer {TOKEN}"}).json() == {"deleted": 1}
    assert api.get("/products/admin-1").status_code == 404
    assert all(h["id"] != "admin-1" for h in api.get("/search", params={"q": "purple umbrella"}).json()["hits"])


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
        assert httpx.delete(f"{base}/sessions/r").json() == {"deleted": 1}
        d = httpx.get(f"{base}/search", params={"q": "shoes", "session": "r"}, timeout=60).json()
        assert d["profile"] is None
