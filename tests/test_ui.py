"""The page in a real browser: Debian's Chromium driven by Playwright, against a
real server. Screenshots land in artifacts/screenshots/."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from server import running_server

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make system-deps)")


@pytest.fixture(scope="module")
def site(tmp_path_factory, small_index, tiny_model):
    idx = tmp_path_factory.mktemp("ui") / "idx"
    shutil.copytree(small_index, idx)
    with running_server(idx, {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model)}) as base:
        yield base


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
    yield pg
    ctx.close()


def search(page, base: str, text: str) -> None:
    page.goto(base + "/")
    page.fill("#q", text)
    page.press("#q", "Enter")
    page.wait_for_selector("#results .card")


def test_text_query_shows_results_with_photos(page, site):
    search(page, site, "black shoes")
    page.wait_for_function("[...document.querySelectorAll('#results .card img')].slice(0,4).every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("#results .card").count() >= 5
    assert "Understood" in page.inner_text("#understood")
    page.screenshot(path=str(SHOTS / "text-query.png"), full_page=True)


def test_upload_photo_finds_the_product(page, site, small_catalogue, data_dir):
    row = list(csv.DictReader(small_catalogue.open()))[4]
    page.goto(site + "/")
    page.set_input_files("#image", str(data_dir / row["image_hr"]))
    page.wait_for_selector(f"#results .card[data-id='{row['id']}']")
    assert page.locator("#results .card").first.get_attribute("data-id") == row["id"]
    page.screenshot(path=str(SHOTS / "photo-query.png"), full_page=True)


def test_facet_click_changes_grid_and_counts(page, site):
    search(page, site, "shoes")
    before = page.inner_text("#summary")
    facet = page.locator(".facet[data-field=type]").nth(1)
    value = facet.get_attribute("data-value")
    n = int(facet.locator(".n").inner_text())
    facet.click()
    page.wait_for_function(f"document.querySelector('#summary').textContent.startsWith('{n} results')")
    types = page.locator("#results .card .attrs").all_inner_texts()
    assert types and all(t.startswith(value) for t in types)
    assert page.inner_text("#summary") != before
    assert page.locator(f".facet.on[data-field=type][data-value='{value}']").count() == 1
    page.screenshot(path=str(SHOTS / "facet.png"), full_page=True)


def test_why_panel_shows_score_parts(page, site):
    search(page, site, "navy blue shirt")
    card = page.locator("#results .card").first
    card.locator("button.why").click()
    text = card.locator(".why-panel").inner_text()
    assert "score" in text and "bm25" in text and "attributes" in text
    page.screenshot(path=str(SHOTS / "why.png"), full_page=True)


def test_more_like_this_and_chinese(page, site):
    search(page, site, "黑色手表")
    assert "Watches" in page.locator("#results .card .attrs").first.inner_text()
    first = page.locator("#results .card").first
    pid = first.get_attribute("data-id")
    first.locator("button.more").click()
    page.wait_for_function(f"document.querySelector('#summary').textContent.includes('like product {pid}')")
    assert page.locator(f"#results .card[data-id='{pid}']").count() == 0
    page.screenshot(path=str(SHOTS / "chinese-more-like-this.png"), full_page=True)


def test_autocomplete_suggests(page, site):
    page.goto(site + "/")
    page.type("#q", "bla", delay=30)
    page.wait_for_selector("#suggest li")
    assert all(s.startswith("bla") for s in page.locator("#suggest li").all_inner_texts())


def test_phone_screen(browser, site):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    search(pg, site, "shirt")
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    cols = pg.evaluate("getComputedStyle(document.querySelector('#results')).gridTemplateColumns.split(' ').length")
    assert cols == 2
    assert not pg.locator("#facets").is_visible()
    pg.click("#toggle-facets")
    assert pg.locator("#facets").is_visible()
    pg.screenshot(path=str(SHOTS / "phone.png"), full_page=False)
    ctx.close()
