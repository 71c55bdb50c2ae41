"""The demo page in a real browser: Debian's chromium driven by Playwright.

Set KERAS_SB_SCREENSHOT=1 to also write docs/demo_screenshot.png; the page then shows the
shipped model (keras_sb.models.DEFAULT_MODEL) instead of an untrained one.
"""

import os
import re
import shutil
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


@pytest.fixture
def page_url(tmp_path):
    """The demo served on a free local port: the shipped model for screenshots, else a tiny one."""
    pretext = {}
    if os.environ.get("KERAS_SB_SCREENSHOT"):
        model, name = load_classifier(DEFAULT_MODEL), os.path.relpath(DEFAULT_MODEL, REPO)
        if path := choose_pretext(DEFAULT_MODEL):  # the shipped classifier's colorizer
            pretext = {"pretext": load_pretext(path), "pretext_name": Path(path).name}
    else:
        model, name = load_classifier(save_tiny_classifier(tmp_path / "tiny.keras")), "tiny"
    demo = build_demo(model, name, **pretext)
    serve(demo, port=free_port(), prevent_thread_lock=True, quiet=True)  # with its headers
    try:
        yield demo.local_url, model.class_names
    finally:
        demo.close()


def test_upload_shows_label_and_gallery(page_url, tmp_path):
    url, class_names = page_url
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.locator("#image input[type=file]").set_input_files(UPLOAD)
            expect = sync_api.expect
            names = "|".join(re.escape(name) for name in class_names)
            expect(page.locator("#label")).to_contain_text(re.compile(names), timeout=60_000)
            expect(page.locator("#gallery img")).to_have_count(len(GALLERY_PANELS))
            expect(page.locator("#status")).to_contain_text("used as is (96x96 RGB)")
            page.wait_for_function("[...document.querySelectorAll('#gallery img')]"
                                   ".every(img => img.complete && img.naturalWidth > 0)")
            shot = tmp_path / "demo.png"
            page.screenshot(path=shot, full_page=True)
            damaged = tmp_path / "notes.png"
            damaged.write_text("a text file with an image's name")
            page.locator("#image input[type=file]").set_input_files(damaged)
            expect(page.locator("#status")).to_contain_text("notes.png is not a readable image")
            expect(page.locator("#gallery img")).to_have_count(0)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("KERAS_SB_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, SCREENSHOT)


def test_pretraining_model_page_shows_panels_without_classes(tmp_path):
    pretext = load_pretext(save_tiny_pretext(tmp_path / "pretext.keras"))
    demo = build_demo(pretext, "pretrain-simple")
    serve(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(demo.local_url)
                expect = sync_api.expect
                expect(page.get_by_text("a pretraining model")).to_be_visible()
                page.locator("#image input[type=file]").set_input_files(UPLOAD)
                expect(page.locator("#gallery img")).to_have_count(len(GALLERY_PANELS),
                                                                   timeout=60_000)
                expect(page.locator("#status")).to_contain_text("keras-sb finetune --init RUN")
                expect(page.locator("#label")).to_be_hidden()
            finally:
                browser.close()
    finally:
        demo.close()
