"""The page in a real browser: Debian's Chromium driven by Playwright, against a
real server. Screenshots land in artifacts/screenshots/."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from server import running_server

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed "
                                "(apt-get install -y chromium chromium-driver, or make system-deps)")


@pytest.fixture(scope="module")
def site(tmp_path_factory, small_index, tiny_model):
    idx = tmp_path_factory.mktemp("ui") / "idx"
    shutil.copytree(small_index, idx)
    with running_server(idx, {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model)}) as base:
        yield SimpleNamespace(base=base, index=idx)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    remote: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1:", "blob:", "data:")) else remote.append(r.url))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not remote, f"the page reached beyond the app: {remote}"  # no CDN, no internet


def search(page, site, text: str) -> None:
    page.goto(site.base + "/")
    page.fill("#q", text)
    page.press("#q", "Enter")
    page.wait_for_selector("#results .card")


def all_photos_loaded(page) -> None:
    """Scroll through the grid (photos load lazily), then wait until every card's photo has pixels."""
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("[...document.querySelectorAll('#results .card img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    page.evaluate("window.scrollTo(0, 0)")


def test_text_query_shows_results_with_photos(page, site):
    search(page, site, "black shoes")
    all_photos_loaded(page)
    assert page.locator("#results .card").count() >= 5
    assert "Understood" in page.inner_text("#understood") and "black" in page.inner_text("#understood")
    assert page.locator("#results .card img").first.evaluate("i => i.naturalWidth") > 0
    assert "q=black+shoes" in page.url  # the search is in the address, so it can be shared or reloaded
    page.screenshot(path=str(SHOTS / "text-query.png"), full_page=True)


def test_upload_photo_finds_the_product(page, site, small_catalogue, data_dir):
    row = list(csv.DictReader(small_catalogue.open()))[4]
    page.goto(site.base + "/")
    page.set_input_files("#image", str(data_dir / row["image_hr"]))
    page.wait_for_selector(f"#results .card[data-id='{row['id']}']")
    assert page.locator("#results .card").first.get_attribute("data-id") == row["id"]
    assert page.locator("#query-media").is_visible() and page.locator("#query-thumb").evaluate("i => i.naturalWidth") > 0
    page.screenshot(path=str(SHOTS / "photo-query.png"), full_page=False)


def test_facet_click_changes_grid_and_counts(page, site):
    search(page, site, "shoes")
    before = page.inner_text("#summary")
    colour_counts_before = page.locator(".facet[data-field=colour] .n").all_inner_texts()
    facet = page.locator(".facet[data-field=type]").nth(1)
    value = facet.get_attribute("data-value")
    n = int(facet.locator(".n").inner_text())
    facet.click()
    page.wait_for_function(f"document.querySelector('#summary').textContent.startsWith('{n} results')")
    types = page.locator("#results .card .attrs").all_inner_texts()
    assert types and all(t.startswith(value) for t in types)
    assert page.inner_text("#summary") != before
    assert page.locator(f".facet.on[data-field=type][data-value='{value}']").count() == 1
    colour_counts = [int(x) for x in page.locator(".facet[data-field=colour] .n").all_inner_texts()]
    assert colour_counts != colour_counts_before and sum(colour_counts) <= n  # counts follow the filter
    assert page.locator(f"#chips .chip[data-value='{value}']").count() == 1
    page.screenshot(path=str(SHOTS / "facet.png"), full_page=False)
    page.click("#chips .chip.clear")  # clearing brings the whole result set back
    page.wait_for_function("!document.querySelector('.facet.on') && "
                           "document.querySelector('#summary').textContent.includes('results')")
    assert page.inner_text("#summary").split()[0] == before.split()[0] and page.locator("#chips .chip").count() == 0


def test_why_panel_shows_score_parts_and_intent(page, site):
    search(page, site, "navy blue shirt")
    card = page.locator("#results .card").first
    assert not card.locator(".why-panel").is_visible()
    card.locator("button.why").click()
    text = card.locator(".why-panel").inner_text()
    assert "score" in text and "bm25" in text and "attributes" in text
    assert "type: Shirts" in text and "navy blue" in text  # the parsed intent
    page.screenshot(path=str(SHOTS / "why.png"), full_page=False)
    card.locator("button.why").click()
    assert not card.locator(".why-panel").is_visible()


def test_more_like_this_and_chinese(page, site):
    search(page, site, "黑色手表")
    assert "Watches" in page.locator("#results .card .attrs").first.inner_text()
    assert "“黑色手表”" in page.inner_text("#summary") and "q=%E9%BB%91" in page.url  # UTF-8 end to end
    page.screenshot(path=str(SHOTS / "chinese.png"), full_page=False)
    first = page.locator("#results .card").first
    pid = first.get_attribute("data-id")
    first.locator("button.more").click()
    page.wait_for_function(f"document.querySelector('#summary').textContent.includes('like product {pid}')")
    assert page.locator(f"#results .card[data-id='{pid}']").count() == 0
    page.screenshot(path=str(SHOTS / "chinese-more-like-this.png"), full_page=False)


def test_opening_a_product_records_a_click_and_personalises(page, site):
    from shopsearch.events.store import EventStore

    search(page, site, "watch")
    session = page.evaluate("localStorage.getItem('shopsearch-session')")
    assert session
    card = page.locator("#results .card").nth(2)
    pid = card.get_attribute("data-id")
    title = card.locator(".title").inner_text()
    card.locator("img").click()
    page.wait_for_selector("#product[open]")
    assert page.inner_text("#product-title") == title
    page.wait_for_function("document.querySelector('#product-img').naturalWidth > 0")
    page.screenshot(path=str(SHOTS / "product.png"), full_page=False)
    page.wait_for_timeout(300)  # the event is sent with keepalive; let it land
    [ev] = EventStore.for_index(site.index).for_session(session)
    assert (ev.type, ev.product_id, ev.position, ev.query_text) == ("click", pid, 3, "watch") and ev.query_id
    page.keyboard.press("Escape")
    assert not page.locator("#product").is_visible()
    search(page, site, "watch")  # the same session searches again: its click now shapes the ranking
    assert "personalised" in page.inner_text("#understood")


def test_paging_and_sort(page, site):
    search(page, site, "shirt")
    first_page = page.locator("#results .card").first.get_attribute("data-id")
    assert page.locator("#pager button.on").inner_text() == "1" and page.locator("#pager button.prev").count() == 0
    page.click("#pager button.next")
    page.wait_for_selector("#pager button.on[data-page='2']")
    assert page.locator("#results .card").first.get_attribute("data-id") != first_page
    assert page.locator("#pager button.prev").count() == 1
    page.click("#pager button[data-page='3']")
    page.wait_for_selector("#pager button.on[data-page='3']")
    page.select_option("#sort", "title")
    page.wait_for_selector("#pager button.on[data-page='1']")
    titles = page.locator("#results .card .title").all_inner_texts()
    assert titles == sorted(titles, key=str.lower) or titles == sorted(titles)


def test_autocomplete_suggests(page, site):
    page.goto(site.base + "/")
    page.type("#q", "bla", delay=30)
    page.wait_for_selector("#suggest li")
    items = page.locator("#suggest li").all_inner_texts()
    assert items and all(s.startswith("bla") for s in items)
    page.locator("#suggest li").first.click()
    page.wait_for_selector("#results .card")
    assert page.input_value("#q") == items[0]


def test_phone_screen(browser, site):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    search(pg, site, "shirt")
    all_photos_loaded(pg)
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    cols = pg.evaluate("getComputedStyle(document.querySelector('#results')).gridTemplateColumns.split(' ').length")
    assert cols == 2
    assert not pg.locator("#facets").is_visible() and pg.locator("#toggle-facets").is_visible()
    pg.screenshot(path=str(SHOTS / "phone.png"), full_page=False)
    pg.click("#toggle-facets")
    assert pg.locator("#facets").is_visible()
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    pg.screenshot(path=str(SHOTS / "phone-filters.png"), full_page=False)
    pg.locator(".facet[data-field=type]").first.tap()
    pg.wait_for_selector(".facet.on", state="attached")
    assert "Filters (1)" in pg.inner_text("#toggle-facets")
    assert not pg.locator("#facets").is_visible()  # folded away so the filtered grid shows
    pg.locator("#results .card img").first.tap()
    pg.wait_for_selector("#product[open]")
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    pg.screenshot(path=str(SHOTS / "phone-product.png"), full_page=False)
    ctx.close()


def test_api_docs_render_offline(page, site):
    pytest.importorskip("swagger_ui_bundle", reason="swagger-ui-bundle-v2 is not installed")
    page.goto(site.base + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Shopsearch" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path[data-path='/search']")
    page.screenshot(path=str(SHOTS / "docs.png"), full_page=False)


def test_hostile_text_is_shown_never_run(browser, tmp_path, small_index, tiny_model):
    """Markup in a product's fields (the admin API stores what it is given) and in
    the shared-link query renders as text; no script of it runs."""
    import httpx

    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)
    evil = '<img src=x onerror="window.__xss=1">Zebra <b>Poncho</b><script>window.__xss=2</script>'
    env = {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model), "SHOPSEARCH_ADMIN_TOKEN": "t0ken"}
    with running_server(idx, env) as base:
        r = httpx.post(f"{base}/admin/products", headers={"Authorization": "Bearer t0ken"}, timeout=60,
                       json=[{"id": "evil-1", "title": evil, "type": "<i>Ponchos</i>", "colour": '"><svg onload=window.__xss=3>',
                              "attrs": {"material": "<iframe src=javascript:window.__xss=4>"}}])
        assert r.json()["upserted"] == 1, r.text
        ctx = browser.new_context()
        pg = ctx.new_page()
        pg.goto(base + "/?q=" + "%22%3E%3Cscript%3Ewindow.__xss%3D5%3C%2Fscript%3Ezebra+poncho")
        pg.wait_for_selector("#results .card")
        assert "Zebra <b>Poncho</b>" in pg.inner_text("#results")  # shown as the characters it is
        pg.locator("#results .card .open").first.click()
        pg.wait_for_timeout(500)
        assert pg.evaluate("window.__xss") is None
        assert pg.locator("#results script, #results iframe, #results svg[onload], img[onerror]").count() == 0
        ctx.close()
