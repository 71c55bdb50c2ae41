"""The demo page in a real browser: Debian's chromium driven by Playwright.

Set KERAS_SB_SCREENSHOT=1 to also write docs/demo_screenshot.png; the page then shows the
shipped model (keras_sb.models.DEFAULT_MODEL) instead of an untrained one.
"""

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_demo import free_port, save_tiny_classifier, save_tiny_pretext

from keras_sb.demo import (
    EXAMPLES_DIR,
    GALLERY_PANELS,
    build_demo,
    choose_pretext,
    load_classifier,
    load_pretext,
    serve,
)
from keras_sb.models import DEFAULT_MODEL

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic",
                 "--disable-sync"]
REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "docs" / "demo_screenshot.png"
UPLOAD = EXAMPLES_DIR / "church.jpg"

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="needs Playwright (pip install playwright)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"needs Debian's chromium at {CHROMIUM} "
                                "(apt-get install chromium)")


@contextlib.contextmanager
def served(demo, **settings) -> Iterator[str]:
    """``demo`` served on a free local port with ``settings`` (and its headers): its URL."""
    serve(demo, port=free_port(), prevent_thread_lock=True, quiet=True, **settings)
    try:
        yield demo.local_url
    finally:
        demo.close()


@contextlib.contextmanager
def opened(url: str) -> Iterator:
    """A chromium page, 1400x900, showing ``url``."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            yield page
        finally:
            browser.close()


@pytest.fixture
def page_url(tmp_path):
    """The demo served on a free local port: the shipped model for screenshots, else a tiny one."""
    pretext = {}
    if os.environ.get("KERAS_SB_SCREENSHOT"):
        model, name = load_classifier(DEFAULT_MODEL), DEFAULT_MODEL
        if path := choose_pretext(DEFAULT_MODEL):  # the shipped classifier's colorizer
            pretext = {"pretext": load_pretext(path), "pretext_name": path}
    else:
        model, name = load_classifier(save_tiny_classifier(tmp_path / "tiny.keras")), "tiny"
    with served(build_demo(model, name, **pretext)) as url:
        yield url, model.class_names


def test_upload_shows_label_and_gallery(page_url, tmp_path):
    url, class_names = page_url
    expect = sync_api.expect
    with opened(url) as page:
        page.locator("#image input[type=file]").set_input_files(UPLOAD)
        names = "|".join(re.escape(name) for name in class_names)
        expect(page.locator("#label")).to_contain_text(re.compile(names), timeout=60_000)
        expect(page.locator("#gallery img")).to_have_count(len(GALLERY_PANELS))
        expect(page.locator("#status")).to_contain_text("used as is (96x96 RGB)")
        expect(page.locator("#gallery")).to_contain_text("target ab (12x12 cells)")
        page.wait_for_function("[...document.querySelectorAll('#gallery img')]"
                               ".every(img => img.complete && img.naturalWidth > 0)")
        shot = tmp_path / "demo.png"
        page.screenshot(path=shot, full_page=True)
        damaged = tmp_path / "notes.png"
        damaged.write_text("a text file with an image's name")
        page.locator("#image input[type=file]").set_input_files(damaged)
        expect(page.locator("#status")).to_contain_text("notes.png is not a readable image")
        expect(page.locator("#gallery img")).to_have_count(0)
    assert shot.stat().st_size > 10_000
    if os.environ.get("KERAS_SB_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, SCREENSHOT)


def test_page_shows_the_request_limit(tmp_path):
    """The second /classify call in a minute, with --requests-per-minute 1: the page says why."""
    model = load_classifier(save_tiny_classifier(tmp_path / "tiny.keras"))
    expect = sync_api.expect
    with served(build_demo(model, "tiny"), requests_per_minute=1) as url, opened(url) as page:
        page.locator("#image input[type=file]").set_input_files(UPLOAD)
        expect(page.locator("#gallery img")).to_have_count(len(GALLERY_PANELS), timeout=60_000)
        page.locator("#image input[type=file]").set_input_files(EXAMPLES_DIR / "tench.jpg")
        expect(page.get_by_test_id("toast-text").first).to_contain_text(
            "Too many requests: at most 1 a minute from one client")


def test_pretraining_model_page_shows_panels_without_classes(tmp_path):
    pretext = load_pretext(save_tiny_pretext(tmp_path / "pretext.keras"))
    expect = sync_api.expect
    with served(build_demo(pretext, "pretrain-simple")) as url, opened(url) as page:
        expect(page.get_by_text("a pretraining model")).to_be_visible()
        page.locator("#image input[type=file]").set_input_files(UPLOAD)
        expect(page.locator("#gallery img")).to_have_count(len(GALLERY_PANELS), timeout=60_000)
        expect(page.locator("#status")).to_contain_text("keras-sb finetune --init RUN")
        expect(page.locator("#label")).to_be_hidden()
