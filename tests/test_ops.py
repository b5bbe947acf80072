"""The operator's analytics, dashboard and A/B tests: a real server process, the real
event store (SQLite beside the index), Debian's Chromium for the dashboard."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from server import running_server
from shopsearch.events.store import EventStore
from shopsearch.ranking.experiments import Arm, Experiment, promote, save_experiment

TOKEN = "ops-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NONSENSE = "qwxzzy"
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def ops(tmp_path_factory, small_index, tiny_model):
    idx = tmp_path_factory.mktemp("ops") / "idx"
    shutil.copytree(small_index, idx)
    env = {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model), "SHOPSEARCH_ADMIN_TOKEN": TOKEN}
    with running_server(idx, env) as base:
        yield SimpleNamespace(base=base, index=idx, store=EventStore.for_index(idx))


def search(base: str, q: str, **params) -> dict:
    r = httpx.get(f"{base}/search", params={"q": q, "page_size": 10, **params}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def event(base: str, **body) -> None:
    r = httpx.post(f"{base}/events", json=body, timeout=30)
    assert r.status_code == 201, r.text


def test_analytics_count_searches_zero_results_clicks_and_conversions(ops):
    for _ in range(3):
        assert search(ops.base, NONSENSE)["no_match"]
    answers = [search(ops.base, q, session="shopper-1") for q in
               ("black watch", "Black Watch", "black  watch", "BLACK WATCH", "black watch")]
    assert not any(a["no_match"] for a in answers) and all(a["total"] > 0 for a in answers)
    first = answers[0]
    event(ops.base, type="click", session_id="shopper-1", product_id=first["hits"][1]["id"],
          query_id=first["query_id"], position=2)
    event(ops.base, type="purchase", session_id="shopper-1", product_id=first["hits"][1]["id"],
          query_id=first["query_id"])
    a = httpx.get(f"{ops.base}/admin/analytics", headers=AUTH, timeout=30).json()
    top = {r["query"]: r["count"] for r in a["top_queries"]}
    zero = {r["query"]: r["count"] for r in a["zero_result_queries"]}
    assert top["black watch"] == 5 and top[NONSENSE] == 3
    assert zero[NONSENSE] == 3 and "black watch" not in zero
    assert a["click_positions"]["2"] >= 1
    conv = {r["query"]: r for r in a["conversions_per_query"]}
    assert conv["black watch"]["purchase"] == 1 and conv["black watch"]["rate"] == pytest.approx(0.2)
    assert a["modalities"]["text"] >= 8 and a["latency_ms"]["p50"] > 0
    # low click-through: "black watch" had 1 clicked search of 5 (20%): over the 10% default, so not listed
    assert "black watch" not in {r["query"] for r in a["low_ctr_queries"]}
    # a period that ended before these searches holds none of them
    old = httpx.get(f"{ops.base}/admin/analytics", params={"until": "2020-01-01T00:00:00Z"}, headers=AUTH).json()
    assert old["searches"] == 0 and old["top_queries"] == []
    day = httpx.get(f"{ops.base}/admin/analytics", params={"days": 1}, headers=AUTH).json()
    assert {r["query"]: r["count"] for r in day["top_queries"]}["black watch"] == 5


def test_analytics_refuse_a_wrong_or_missing_token(ops):
    assert httpx.get(f"{ops.base}/admin/analytics").status_code == 401
    assert httpx.get(f"{ops.base}/admin/analytics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(f"{ops.base}/admin/experiments", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(f"{ops.base}/admin").status_code == 200  # the page loads; its data needs the token


def test_erasing_a_session_erases_its_search_log(ops):
    search(ops.base, "red shirt", session="erase-me")
    search(ops.base, "blue jeans", session="erase-me")
    assert ops.store.searches_for_session("erase-me") == 2
    event(ops.base, type="view", session_id="erase-me", product_id=search(ops.base, "shirt")["hits"][0]["id"])
    assert httpx.delete(f"{ops.base}/sessions/erase-me").json() == {"deleted": 1}  # events, as before
    assert ops.store.searches_for_session("erase-me") == 0


@pytest.mark.parametrize("split", [0.5, 0.2])
def test_ab_split_is_stable_per_session_and_even_across_sessions(split):
    arms = [Arm(name="a"), Arm(name="b")]
    exp = Experiment(name="colour-test", arms=arms, split=split)
    again = Experiment.model_validate(exp.model_dump(mode="json"))  # as read back from the metadata
    sessions = [f"session-{i}" for i in range(2000)]
    first = [exp.assign(s).name for s in sessions]
    assert first == [again.assign(s).name for s in sessions]  # stable: same arm every search
    share = first.count("a") / len(first)
    assert abs(share - split) < 0.03, share
    other = Experiment(name="another-test", arms=arms, split=split)
    moved = sum(x != other.assign(s).name for x, s in zip(first, sessions))
    assert moved > 0.2 * len(sessions)  # a new test reshuffles: its name is in the hash


def test_ab_test_through_the_server_results_stop_and_promote(ops):
    mods = [{"field": "year", "weight": 0.5}]  # newest first (the fashion set has no prices)
    new = {"name": "new", "weights": {"bm25": 0.0}, "modifiers": mods}  # no BM25: its part leaves every hit
    exp = {"name": "new-first", "split": 0.5, "arms": [{"name": "control"}, new]}
    assert httpx.post(f"{ops.base}/admin/experiments", json=exp, headers={"Authorization": "Bearer x"}).status_code == 401
    assert httpx.post(f"{ops.base}/admin/experiments", json=exp, headers=AUTH).json() == {"name": "new-first",
                                                                                           "replaced": False}
    second = dict(exp, name="other")
    assert httpx.post(f"{ops.base}/admin/experiments", json=second, headers=AUTH).status_code == 409
    local = Experiment.model_validate(exp)
    seen = {"control": 0, "new": 0}
    for i in range(40):
        sid = f"ab-{i}"
        arm = local.assign(sid).name
        for _ in range(2):  # the same session twice: the same arm both times
            res = search(ops.base, "shirt", session=sid)
            assert ("bm25" not in res["hits"][0]["parts"]) == (arm == "new"), (sid, arm)
        seen[arm] += 1
        if arm == "new":  # shoppers like the new arm: they click there
            event(ops.base, type="click", session_id=sid, product_id=res["hits"][0]["id"], query_id=res["query_id"],
                  position=1)
    assert min(seen.values()) >= 10
    r = httpx.get(f"{ops.base}/admin/experiments/new-first", headers=AUTH).json()
    arms = {a["arm"]: a for a in r["arms"]}
    assert arms["control"]["searches"] == 2 * seen["control"] and arms["new"]["searches"] == 2 * seen["new"]
    assert arms["control"]["sessions"] == seen["control"]
    assert arms["new"]["ctr"]["rate"] == pytest.approx(0.5) and arms["control"]["ctr"]["rate"] == 0
    lo, hi = arms["new"]["ctr"]["low"], arms["new"]["ctr"]["high"]
    assert 0.3 < lo < 0.5 < hi < 0.7  # Wilson 95% at 20 of 40
    assert r["ctr_p_value"] < 0.001 and r["leader"] == "new"
    stopped = httpx.post(f"{ops.base}/admin/experiments/new-first/stop", headers=AUTH).json()
    assert stopped["status"] == "stopped" and stopped["winner"] is None
    time.sleep(1.1)  # the router's view of running tests is at most a second old
    assert all("bm25" in search(ops.base, "shirt", session=f"ab-{i}")["hits"][0]["parts"] for i in range(6))
    promoted = httpx.post(f"{ops.base}/admin/experiments/new-first/promote", headers=AUTH).json()
    assert promoted["promoted"] and promoted["winner"] == "new"  # the significant leader, by default
    t0 = time.time()
    while "bm25" in search(ops.base, "shirt")["hits"][0]["parts"]:  # now everyone's default, within a second
        assert time.time() - t0 < 3.0, "the promoted arm did not become the default"
        time.sleep(0.2)
    from shopsearch.index import open_index

    meta = open_index(ops.index)
    assert meta.get_meta("score_modifiers") == mods and meta.get_meta("fusion_weights")["keyword"]["bm25"] == 0.0
    listed = httpx.get(f"{ops.base}/admin/experiments", headers=AUTH).json()
    assert [e["name"] for e in listed] == ["new-first"]
    assert httpx.delete(f"{ops.base}/admin/experiments/new-first", headers=AUTH).status_code == 200
    assert httpx.delete(f"{ops.base}/admin/experiments/new-first", headers=AUTH).status_code == 404


def test_promote_writes_weights_in_the_shape_tune_writes(tmp_path, small_index):
    from shopsearch.index import open_index
    from shopsearch.ranking.tune import DEFAULT

    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)
    index = open_index(idx)
    index.set_meta("fusion_weights", {"keyword": dict(DEFAULT, image=0.25)})
    save_experiment(index, Experiment(name="w", arms=[Arm(name="a", tuned=True),
                                                      Arm(name="b", weights={"bm25": 2.0}, fusion="rrf")]))
    promote(index, "w", "b")
    fw = index.get_meta("fusion_weights")
    assert fw["keyword"] == dict(DEFAULT, image=0.25, bm25=2.0)  # over what tune wrote
    assert set(fw) >= {"keyword", "attribute", "descriptive", "photo", "photo_only_text"}
    assert all(w["bm25"] == 2.0 for w in fw.values())
    save_experiment(index, Experiment(name="t", arms=[Arm(name="untuned", tuned=False), Arm(name="tuned", tuned=True)]))
    promote(index, "t", "untuned")  # the untuned defaults win: the tuned weights go
    assert index.get_meta("fusion_weights") is None
    from shopsearch.schema import Query
    from shopsearch.settings import Settings

    s = Settings(weight_bm25=0.7)
    untuned = Arm(name="u", tuned=False, weights={"text": 2.0}).apply(Query(text="shirt"), s).weights
    assert untuned.bm25 == 0.7 and untuned.text == 2.0 and untuned.attributes == s.attribute_boost
    assert Arm(name="t", tuned=True, weights={"text": 2.0}).apply(Query(text="shirt"), s).weights.text is None
    with pytest.raises(ValueError, match="unknown transform"):
        Arm(name="x", modifiers=[{"field": "price", "weight": 1, "transform": "cube"}])


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def test_dashboard_adds_a_synonym_for_a_zero_result_query_in_chromium(ops, browser):
    search(ops.base, NONSENSE)  # at least one zero-result search, whatever ran before
    exp = {"name": "ui-test", "arms": [{"name": "control"}, {"name": "bm25-off", "weights": {"bm25": 0}}]}
    assert httpx.post(f"{ops.base}/admin/experiments", json=exp, headers=AUTH).status_code == 200
    for i in range(6):
        search(ops.base, "shirt", session=f"ui-{i}")
    ctx = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = ctx.new_page()
    errors: list[str] = []
    urls: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: urls.append(r.url))
    try:
        page.goto(ops.base + "/admin")
        page.fill("#token", "wrong")
        page.click("#login-form button")
        page.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
        page.fill("#token", TOKEN)
        page.click("#login-form button")
        row = page.locator(f"#zero tr[data-query='{NONSENSE}']")
        row.wait_for()
        page.wait_for_function("() => Chart.getChart(document.querySelector('#top-chart')) !== undefined")
        page.screenshot(path=str(SHOTS / "admin-dashboard.png"), full_page=True)
        row.locator("button.add-synonym").click()
        row.locator("input.synonym-words").fill("watch")
        row.locator("form.synonym-form button").click()
        row.locator(".saved").wait_for()
        page.screenshot(path=str(SHOTS / "admin-synonym-added.png"), full_page=True)
        row.locator("button.add-rule").click()
        first = search(ops.base, "white watch")["hits"][0]["id"]
        row.locator("input.rule-words").fill(first)
        row.locator("form.rule-form button").click()
        row.locator(".saved").wait_for()
        page.screenshot(path=str(SHOTS / "admin-rule-added.png"), full_page=True)
        page.reload()  # the token stays for this tab
        page.locator(f"#zero tr[data-query='{NONSENSE}']").wait_for()
        page.locator("#experiments button.stop").wait_for()
        page.locator("#experiments").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "admin-ab-test.png"), full_page=True)
        page.click("#experiments button.stop")
        page.wait_for_function("document.querySelector('#experiments').textContent.includes('stopped')")
    finally:
        ctx.close()
    assert not errors, errors
    outside = [u for u in urls if not u.startswith(ops.base + "/")]
    assert not outside, f"the dashboard reached beyond the app: {outside}"
    assert any(u.endswith("/static/vendor/chart.umd.min.js") for u in urls)
    syns = httpx.get(f"{ops.base}/admin/synonyms", headers=AUTH).json()
    assert any(s["input"] == NONSENSE and s["synonyms"] == ["watch"] for s in syns)
    rules = httpx.get(f"{ops.base}/admin/rules", headers=AUTH).json()
    assert any(r["match"]["query"] == NONSENSE and r["pin"][0]["id"] == first for r in rules)
    assert httpx.get(f"{ops.base}/admin/experiments/ui-test", headers=AUTH).json()["experiment"]["status"] == "stopped"
    assert httpx.delete(f"{ops.base}/admin/experiments/ui-test", headers=AUTH).status_code == 200
    res = search(ops.base, NONSENSE)  # the next search for it finds watches
    assert not res["no_match"] and res["hits"][0]["id"] == first  # pinned by the rule
    assert all(h["type"] == "Watches" for h in res["hits"][1:4]), [h["type"] for h in res["hits"]]


def test_cli_runs_an_experiment(tmp_path, small_index):
    from conftest import cli

    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)
    exp = '{"name": "t1", "arms": [{"name": "control"}, {"name": "b", "weights": {"bm25": 2}}]}'
    assert "started experiment t1" in cli("experiments", "start", exp, "--index", idx).stdout
    assert cli("experiments", "start", exp.replace("t1", "t2"), "--index", idx, check=False).returncode == 2
    assert '"name":"t1"' in cli("experiments", "list", "--index", idx).stdout
    out = cli("experiments", "results", "t1", "--index", idx).stdout
    assert "control" in out and "leader -" in out
    assert "promoted b of t1" in cli("experiments", "promote", "t1", "b", "--index", idx).stdout
    assert cli("experiments", "stop", "nope", "--index", idx, check=False).returncode == 2


def test_photo_and_browse_searches_are_logged_by_modality(ops, data_dir):
    from conftest import fashion_rows

    photo = (data_dir / fashion_rows(1)[0]["image_hr"]).read_bytes()
    r = httpx.post(f"{ops.base}/search", files={"image": ("q.jpg", photo, "image/jpeg")},
                   data={"query": '{"page_size": 5}'}, timeout=60)
    assert r.status_code == 200, r.text
    assert httpx.get(f"{ops.base}/search", params={"type": "Watches"}, timeout=60).status_code == 200
    a = httpx.get(f"{ops.base}/admin/analytics", headers=AUTH).json()
    assert a["modalities"].get("photo", 0) >= 1 and a["modalities"].get("browse", 0) >= 1
    assert "" not in {q["query"] for q in a["top_queries"]}  # a photo or a browse is not a query
    bad = httpx.get(f"{ops.base}/admin/analytics", params={"since": "yesterday"}, headers=AUTH)
    assert bad.status_code == 422 and "period" in bad.json()["detail"]
