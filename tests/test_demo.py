"""The web demo: its handlers on real photos, odd and damaged files, the CLI, and the served API."""

import os
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from keras_sb.demo import (
    EMPTY_STATUS,
    EXAMPLES_DIR,
    GALLERY_PANELS,
    MB,
    PANEL_SIDE,
    SecurityHeaders,
    analyse,
    build_demo,
    cache_png,
    load_classifier,
    read_image,
    serve,
)
from keras_sb.models import SplitBrain, SplitBrainClassifier
from keras_sb.visualize import PANELS

CLASSES = ["cat", "dog", "fish"]
PHOTO = EXAMPLES_DIR / "parachute.jpg"


def save_tiny_classifier(path: Path, **kwargs) -> Path:
    """An untrained 3-class classifier on a quarter-width ``simple`` pair, saved to ``path``."""
    SplitBrainClassifier(SplitBrain("simple", width=0.25), 3, CLASSES, **kwargs).save(path)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("demo") / "classifier.keras")


@pytest.fixture(scope="module")
def model(model_path) -> SplitBrainClassifier:
    return load_classifier(model_path)


@pytest.fixture
def corrupt_png(tmp_path) -> Path:
    path = tmp_path / "notes.png"
    path.write_text("a text file with an image's name")
    return path


def test_photo_gives_probabilities_and_captioned_panels(model):
    out = analyse(model, PHOTO, 0.38)
    assert list(out.label) == CLASSES
    assert sum(out.label.values()) == pytest.approx(1.0, abs=1e-5)
    captions = [caption for _, caption in out.gallery]
    assert [c.removesuffix(" (T=0.38)") for c in captions] == [PANELS[n] for n in GALLERY_PANELS]
    assert all(tile.shape == (PANEL_SIDE, PANEL_SIDE, 3) and tile.dtype == np.uint8
               for tile, _ in out.gallery)
    assert out.status == "Input: used as is (96x96 RGB)."


def test_shipped_examples_all_decode():
    names = sorted(p.name for p in EXAMPLES_DIR.iterdir())
    assert len(names) >= 5
    for name in names:
        rgb, _ = read_image(EXAMPLES_DIR / name, 96)
        assert rgb.shape == (96, 96, 3) and 0 <= rgb.min() <= rgb.max() <= 1


@pytest.mark.parametrize("mode, size, expected", [
    ("L", (160, 120), ["resized 160x120 to 96x96", "converted greyscale to RGB"]),
    ("RGBA", (96, 96), ["converted RGBA (alpha dropped) to RGB"]),
    ("P", (50, 300), ["resized 50x300 to 96x96", "converted palette to RGB"]),
    ("RGB", (97, 96), ["resized 97x96 to 96x96"]),
])
def test_odd_sizes_and_modes_are_noted(model, tmp_path, mode, size, expected):
    path = tmp_path / "odd.png"
    Image.open(PHOTO).convert(mode).resize(size).save(path)
    out = analyse(model, path)
    assert sum(out.label.values()) == pytest.approx(1.0, abs=1e-5)
    assert len(out.gallery) == len(GALLERY_PANELS)
    assert all(note in out.status for note in expected), out.status


def test_pil_image_matches_its_file(tmp_path):
    path = tmp_path / "photo.png"  # lossless: PIL's and TensorFlow's JPEG decoders differ
    Image.open(PHOTO).resize((120, 100)).save(path)
    from_file, file_note = read_image(path, 96)
    from_pil, pil_note = read_image(Image.open(path), 96)
    np.testing.assert_array_equal(from_pil, from_file)
    assert pil_note == file_note
    assert file_note.startswith("resized 120x100 to 96x96")


def test_animated_gif_uses_first_frame(model, tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (96, 96), colour) for colour in ("red", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    rgb, note = read_image(path, 96)
    assert "first of 2 frames" in note
    assert rgb[..., 0].mean() > 0.9 and rgb[..., 2].mean() < 0.1


@pytest.mark.parametrize("contents", [b"", b"a text file with an image's name",
                                      PHOTO.read_bytes()[:1500]])
def test_unreadable_files_give_a_message(model, tmp_path, contents):
    path = tmp_path / "broken.png"
    path.write_bytes(contents)
    out = analyse(model, path)
    assert (out.label, out.gallery) == ({}, [])
    assert out.status.startswith("⚠️ **Could not use this file.** broken.png is not a readable")


def test_missing_file_and_no_image(model, tmp_path):
    assert "cannot read gone.jpg" in analyse(model, tmp_path / "gone.jpg").status
    assert analyse(model, None) == ({}, [], EMPTY_STATUS)


def test_temperature_changes_colours_and_is_clipped(model):
    vivid = analyse(model, PHOTO, 0.05).gallery[2][0]
    mean = analyse(model, PHOTO, 1.0).gallery[2][0]
    assert not np.array_equal(vivid, mean)
    np.testing.assert_array_equal(analyse(model, PHOTO, 0.0).gallery[2][0], vivid)


def test_probe_classifier_shows_no_panels(tmp_path):
    probe = load_classifier(save_tiny_classifier(tmp_path / "probe.keras",
                                                 feature_layer="conv3"))
    out = analyse(probe, PHOTO)
    assert sum(out.label.values()) == pytest.approx(1.0, abs=1e-5)
    assert out.gallery == []
    assert "keeps the backbones only up to conv3, so it cannot show colorizations" in out.status


def test_cli_refuses_missing_and_non_classifier_models(tmp_path, capsys):
    assert app.main(["--model", str(tmp_path / "none.keras")]) == 2
    assert f"--model {tmp_path / 'none.keras'} does not exist" in capsys.readouterr().err
    pair = tmp_path / "pair.keras"
    SplitBrain("simple", width=0.25).save(pair)
    assert app.main(["--model", str(pair)]) == 2
    assert f"--model {pair} holds a SplitBrain, not a SplitBrainClassifier" in (
        capsys.readouterr().err)
    assert app.main(["--model", str(tmp_path)]) == 2  # a run folder without best.keras
    assert "holds no best.keras or last.keras" in capsys.readouterr().err


@pytest.fixture
def launched(monkeypatch) -> dict:
    """The keywords app.main passes to ``Blocks.launch`` (which then returns at once)."""
    kwargs = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **given: kwargs.update(given))
    return kwargs


def test_cli_serves_on_host_and_port(model_path, launched):
    assert app.main(["--model", str(model_path), "--host", "0.0.0.0", "--port", "7999",
                     "--max-upload-mb", "1.5"]) == 0
    middleware = launched.pop("app_kwargs")["middleware"]
    assert [m.cls for m in middleware] == [SecurityHeaders]
    assert launched == {"server_name": "0.0.0.0", "server_port": 7999,
                        "max_file_size": 3 * MB // 2, "ssr_mode": False}


def test_cli_defaults_to_loopback_and_20_mb(model_path, launched):
    assert app.main(["--model", str(model_path)]) == 0
    assert (launched["server_name"], launched["max_file_size"]) == ("127.0.0.1", 20 * MB)


@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf", "20MB", ""])
def test_cli_refuses_bad_upload_limits(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        app.main(["--max-upload-mb", value])
    assert exit_info.value.code == 2
    assert (f"argument --max-upload-mb: must be a finite positive number, not {value!r}"
            in capsys.readouterr().err)


@pytest.fixture(scope="module")
def client(model):
    demo = build_demo(model, "tiny")
    serve(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def test_served_api_classifies_and_reports_damaged_uploads(client, corrupt_png):
    label, gallery, status = client.predict(handle_file(str(EXAMPLES_DIR /
                                                            "church_grey_160x120.png")),
                                            0.38, api_name="/classify")
    assert label["label"] in CLASSES
    assert sum(c["confidence"] for c in label["confidences"]) == pytest.approx(1.0, abs=1e-4)
    assert [item["caption"].removesuffix(" (T=0.38)") for item in gallery] == [
        PANELS[n] for n in GALLERY_PANELS]
    assert Image.open(gallery[0]["image"]).size == (PANEL_SIDE, PANEL_SIDE)
    assert "resized 160x120 to 96x96" in status and "greyscale" in status

    label, gallery, status = client.predict(handle_file(str(corrupt_png)), 0.38,
                                            api_name="/classify")
    assert gallery == [] and "notes.png is not a readable image" in status
    label, _, _ = client.predict(handle_file(str(PHOTO)), 0.5, api_name="/classify")
    assert label["label"] in CLASSES  # still serving


@pytest.mark.slow
def test_load_many_requests_from_several_threads(client):
    """36 /classify calls from 6 clients at once: no errors, every answer has the classes."""
    threads, calls_each = 6, 6

    def calls(_: int) -> list[tuple[float, dict | None]]:
        own = Client(client.src, verbose=False)
        results = []
        for _ in range(calls_each):
            start = time.perf_counter()
            try:
                label, _, _ = own.predict(handle_file(str(PHOTO)), 0.38, api_name="/classify")
            except Exception:  # counted as an error below
                label = None
            results.append((time.perf_counter() - start, label))
        return results

    with ThreadPoolExecutor(threads) as pool:
        results = [result for batch in pool.map(calls, range(threads)) for result in batch]
    labels = [label for _, label in results if label is not None]
    cuts = statistics.quantiles([seconds for seconds, _ in results], n=20)
    print(f"\n/classify x{len(results)} from {threads} threads: "
          f"{len(results) - len(labels)} errors, p50 {cuts[9]:.2f} s, p95 {cuts[18]:.2f} s")
    assert len(labels) == threads * calls_each
    assert all({c["label"] for c in label["confidences"]} == set(CLASSES) for label in labels)


def test_cached_png_is_replaced_whole(tmp_path):
    tile = np.arange(12 * 12 * 3, dtype=np.uint8).reshape(12, 12, 3)
    path = cache_png(tile, tmp_path)
    with open(path, "rb") as reader:  # a download in progress while the same result is cached
        assert cache_png(tile, tmp_path) == path
        assert os.stat(path).st_ino != os.fstat(reader.fileno()).st_ino  # not rewritten in place
        np.testing.assert_array_equal(np.asarray(Image.open(reader)), tile)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), tile)
    assert [p.name for p in Path(path).parent.iterdir()] == ["image.png"]


def test_hostile_image_gets_a_message_in_the_page(model, tmp_path):
    from test_image_limits import png

    thin = tmp_path / "thin.png"
    thin.write_bytes(png(30000, 1, colour=True))
    out = analyse(model, thin)
    assert out.label == {} and out.gallery == []
    assert "image is 30000x1 pixels: one side more than 100 times the other" in out.status
    assert "assertion failed" not in out.status
