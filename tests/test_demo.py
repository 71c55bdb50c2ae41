"""The web demo: its handlers on real photos, odd and damaged files, the CLI, and the served API."""

import json
import os
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import keras
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from keras_sb import checkpoints
from keras_sb.checkpoints import CheckpointError
from keras_sb.demo import (
    CACHE_PREFIX,
    EMPTY_STATUS,
    EXAMPLES_DIR,
    GALLERY_PANELS,
    MB,
    MULTIPART_OVERHEAD,
    PANEL_SIDE,
    CallLimits,
    SecurityHeaders,
    UploadLimits,
    analyse,
    build_demo,
    cache_png,
    check_pretext,
    example_files,
    load_classifier,
    load_model,
    load_pretext,
    panel_captions,
    read_image,
    run_summary,
    serve,
)
from keras_sb.models import DEFAULT_MODEL, SplitBrain, SplitBrainClassifier

CLASSES = ["church", "parachute", "tench"]  # three of the shipped examples' classes
PHOTO = EXAMPLES_DIR / "parachute.jpg"
GREY_CHURCH = Path(__file__).resolve().parent / "data" / "church_grey_160x120.png"


def save_tiny_classifier(path: Path, feature_layer: str = "logits",
                         classes: list[str] = CLASSES, **kwargs) -> Path:
    """An untrained classifier of ``classes`` on a quarter-width ``simple`` pair (with its
    pretext heads unless ``feature_layer`` says otherwise), saved to ``path``."""
    SplitBrainClassifier(SplitBrain("simple", width=0.25), len(classes), classes,
                         feature_layer=feature_layer, **kwargs).save(path)
    return path


def save_tiny_pretext(path: Path, **kwargs) -> Path:
    """An untrained quarter-width ``simple`` pretraining pair (a ``SplitBrain``), saved to
    ``path``."""
    SplitBrain("simple", width=0.25, **kwargs).save(path)
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


@pytest.fixture(scope="module")
def pretext_path(tmp_path_factory) -> Path:
    return save_tiny_pretext(tmp_path_factory.mktemp("pretext") / "pretext.keras")


@pytest.fixture(scope="module")
def pretext(pretext_path) -> SplitBrain:
    return load_pretext(pretext_path)


@pytest.fixture(scope="module")
def probe_path(tmp_path_factory) -> Path:
    """A classifier on conv3 features: it keeps no pretext heads."""
    return save_tiny_classifier(tmp_path_factory.mktemp("probe") / "probe.keras",
                                feature_layer="conv3")


@pytest.fixture(scope="module")
def probe(probe_path) -> SplitBrainClassifier:
    return load_classifier(probe_path)


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
    assert captions == [panel_captions(model)[n] for n in GALLERY_PANELS]
    assert all(tile.shape == (PANEL_SIDE, PANEL_SIDE, 3) and tile.dtype == np.uint8
               for tile, _ in out.gallery)
    assert out.status == "Input: used as is (96x96 RGB)."


def test_panels_name_their_resolution_and_draw_targets_as_cells(model):
    """Each caption names its resolution; the 12x12 targets are 12x12 cells of one colour."""
    gallery = dict(zip(GALLERY_PANELS, analyse(model, PHOTO, 0.38).gallery, strict=True))
    assert gallery["input"][1] == "input (96x96)"
    assert gallery["predicted_lightness"][1] == "ab->L (12x12)"
    cell = PANEL_SIDE // 12
    for name in ("target_color", "target_lightness"):
        tile, caption = gallery[name]
        assert caption.endswith("(12x12 cells)")
        cells = tile.reshape(12, cell, 12, cell, 3)
        assert (cells == cells[:, :1, :, :1]).all(), name


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


def test_probe_classifier_shows_no_panels(probe):
    out = analyse(probe, PHOTO)
    assert sum(out.label.values()) == pytest.approx(1.0, abs=1e-5)
    assert out.gallery == []
    assert "keeps the backbones only up to conv3, so it cannot show colorizations" in out.status
    assert "`--pretext RUN`" in out.status


def test_pretraining_model_shows_panels_and_no_classes(pretext_path):
    pair = load_model(pretext_path)
    assert isinstance(pair, SplitBrain)
    out = analyse(pair, PHOTO, 0.38)
    assert out.label == {}
    assert [caption for _, caption in out.gallery] == [panel_captions(pair)[n]
                                                       for n in GALLERY_PANELS]
    assert out.status.startswith("Input: used as is (96x96 RGB). This is a pretraining model")
    assert "`keras-sb linprobe --init RUN`" in out.status  # as the command that started it
    assert "`keras-sb finetune --init RUN`" in out.status


def test_probe_classifier_with_pretext_shows_classes_and_its_panels(probe, pretext):
    out = analyse(probe, PHOTO, 0.38, pretext=pretext)
    assert out.label == analyse(probe, PHOTO, 0.38).label
    assert sum(out.label.values()) == pytest.approx(1.0, abs=1e-5)
    assert out.status == "Input: used as is (96x96 RGB)."
    drawn = analyse(pretext, PHOTO, 0.38).gallery  # the pretext model's own panels
    assert [caption for _, caption in out.gallery] == [caption for _, caption in drawn]
    assert len(out.gallery) == len(GALLERY_PANELS)
    for (tile, _), (expected, _) in zip(out.gallery, drawn, strict=True):
        np.testing.assert_array_equal(tile, expected)


def test_classifier_with_heads_draws_its_own_panels(model, pretext):
    own = analyse(model, PHOTO, 0.38).gallery
    with_pretext = analyse(model, PHOTO, 0.38, pretext=pretext).gallery
    for (tile, _), (expected, _) in zip(with_pretext, own, strict=True):
        np.testing.assert_array_equal(tile, expected)


@pytest.mark.parametrize("kwargs, expected", [
    ({"image_size": 64}, "takes 64x64 images in colour space lab, the classifier 96x96 "
                         "images in lab"),
    ({"color_space": "rgb"}, "takes 96x96 images in colour space rgb, the classifier 96x96 "
                             "images in lab"),
])
def test_mismatched_pretext_is_refused_naming_both(probe, probe_path, tmp_path, capsys,
                                                   kwargs, expected):
    other = save_tiny_pretext(tmp_path / "other.keras", **kwargs)
    with pytest.raises(CheckpointError) as error:
        check_pretext(probe, load_pretext(other), probe_path, other)
    assert f"--pretext {other} does not match --model {probe_path}: " in str(error.value)
    assert expected in str(error.value)
    with pytest.raises(CheckpointError, match="--pretext other.keras does not match --model "
                       "probe.keras"):  # the page names files only
        build_demo(probe, probe_path, pretext=load_pretext(other), pretext_name=other)
    assert app.main(["--model", str(probe_path), "--pretext", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"error: --pretext {other} does not match --model {probe_path}" in err
    assert expected in err


def test_cli_refuses_missing_and_non_demo_models(tmp_path, capsys, probe_path):
    assert app.main(["--model", str(tmp_path / "none.keras")]) == 2
    assert f"--model {tmp_path / 'none.keras'} does not exist" in capsys.readouterr().err
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(other)
    assert app.main(["--model", str(other)]) == 2
    assert (f"--model {other} holds a Sequential, not a SplitBrainClassifier (from python "
            "train.py --stage finetune or linprobe) or a SplitBrain (from python train.py --stage "
            "pretrain)") in capsys.readouterr().err
    assert app.main(["--model", str(tmp_path)]) == 2  # a run folder without best.keras
    assert "holds no best.keras or last.keras" in capsys.readouterr().err
    assert app.main(["--model", str(probe_path), "--pretext", str(probe_path)]) == 2
    assert (f"--pretext {probe_path} holds a SplitBrainClassifier, not a SplitBrain"
            in capsys.readouterr().err)


@pytest.fixture
def launched(monkeypatch, tmp_path) -> dict:
    """The keywords app.main passes to ``Blocks.launch`` (which then returns at once), the
    page under "demo" and the proxies uvicorn would trust under "FORWARDED_ALLOW_IPS";
    GRADIO_TEMP_DIR is ``tmp_path``."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    kwargs = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **given: kwargs.update(
        given, demo=self, FORWARDED_ALLOW_IPS=os.environ.get("FORWARDED_ALLOW_IPS")))
    return kwargs


def page(demo: gr.Blocks) -> dict:
    """{elem_id or type: props} of the page's components (the first of each)."""
    components = {}
    for component in demo.get_config_file()["components"]:
        key = component["props"].get("elem_id") or component["type"]
        components.setdefault(key, component["props"])
    return components


def test_cli_serves_a_pretraining_run(pretext_path, tmp_path, launched):
    run = tmp_path / "pretrain-simple"
    run.mkdir()
    (run / "best.keras").write_bytes(pretext_path.read_bytes())
    assert app.main(["--model", str(run)]) == 0
    props = page(launched["demo"])
    intro = props["markdown"]["value"]
    assert "**Model** `pretrain-simple`: a **pretraining model**" in intro
    assert "`python train.py --stage finetune --init RUN`" in intro
    assert str(tmp_path) not in intro
    assert props["label"]["visible"] is False
    assert props["gallery"]["visible"] is True


def test_cli_draws_probe_colorizations_with_pretext(probe_path, pretext_path, launched):
    assert app.main(["--model", str(probe_path), "--pretext", str(pretext_path)]) == 0
    props = page(launched["demo"])
    intro = props["markdown"]["value"]
    assert "**Colorizations** by the pretraining model `pretext.keras`" in intro
    assert str(pretext_path.parent) not in intro and str(probe_path.parent) not in intro
    assert props["label"]["visible"] is True
    cache = Path(launched["demo"].GRADIO_CACHE)
    assert not cache.exists()  # app.main removed it when the server stopped
    cache.mkdir()
    fn = next(fn for fn in launched["demo"].fns.values() if fn.api_name == "classify")
    label, gallery, status = fn.fn({"path": str(PHOTO)}, 0.38)
    assert set(label) == set(CLASSES) and len(gallery) == len(GALLERY_PANELS)


def test_cli_uses_the_shipped_pretext_for_the_shipped_model(probe_path, pretext_path, tmp_path,
                                                            monkeypatch, launched):
    monkeypatch.setattr(checkpoints, "DEFAULT_MODEL", str(probe_path))
    monkeypatch.setattr(checkpoints, "DEFAULT_PRETEXT", str(tmp_path / "pretext.keras"))
    assert app.main(["--model", str(probe_path)]) == 0  # no pretext.keras shipped: as before
    intro = page(launched["demo"])["markdown"]["value"]
    assert "so the page shows no" in intro and "start the demo with `--pretext RUN`" in intro
    (tmp_path / "pretext.keras").write_bytes(pretext_path.read_bytes())
    assert app.main(["--model", str(probe_path)]) == 0
    intro = page(launched["demo"])["markdown"]["value"]
    assert "**Colorizations** by the pretraining model `pretext.keras`" in intro
    other = tmp_path / "other.keras"
    other.write_bytes(probe_path.read_bytes())
    assert app.main(["--model", str(other)]) == 0  # not the shipped model: no default pretext
    assert "start the demo with `--pretext RUN`" in page(launched["demo"])["markdown"]["value"]


def test_cli_names_a_run_by_its_folder_with_its_held_out_top1(model_path, tmp_path, launched):
    """A classifier command's part, its best.keras or another checkpoint: named by the run
    (never a server path), with the held-out top-1 of its summary.json and its calibration."""
    run = tmp_path / "flowers" / "finetune"
    run.mkdir(parents=True)
    (run / "best.keras").write_bytes(model_path.read_bytes())
    (run / "epoch_010.keras").write_bytes(model_path.read_bytes())
    (run / "summary.json").write_text(json.dumps({
        "holdout_top1": 0.25, "holdout_images": 20, "reported_on": "holdout",
        "temperature_fitted": False}))
    for given, name in [(run, "flowers/finetune"), (run / "best.keras", "flowers/finetune"),
                        (run / "epoch_010.keras", "flowers/finetune/epoch_010.keras")]:
        assert app.main(["--model", str(given)]) == 0
        intro = page(launched["demo"])["markdown"]["value"]
        assert f"**Model** `{name}`:" in intro and str(tmp_path) not in intro
        assert ("**Held-out top-1** 25.0% on 20 images (95 % interval 11%-47%: too few "
                "images for a precise figure). **Calibrated**: no, too few held-out images to "
                "fit a temperature; the probabilities are the plain softmax.") in intro
    (run / "summary.json").write_text("{damaged")
    assert app.main(["--model", str(run)]) == 0
    intro = page(launched["demo"])["markdown"]["value"]
    assert "Held-out top-1" not in intro and "**Calibrated**: no" in intro


def test_shipped_model_shows_its_held_out_top1_and_calibration():
    """From the run summary in the shipped model's metrics.json."""
    summary = run_summary(DEFAULT_MODEL)
    assert (summary["holdout_top1"], summary["holdout_images"]) == (0.655, 200)
    intro = page(build_demo(load_classifier(DEFAULT_MODEL), DEFAULT_MODEL))["markdown"]["value"]
    assert ("**Held-out top-1** 65.5% on 200 images; val top-1 62.2%. **Calibrated**: yes, "
            "temperature 1.52 fitted on the held-out images.") in intro
    assert "**Model** `default_model/classifier.keras`" in intro


def test_examples_are_those_of_the_model_classes(model, pretext, tmp_path):
    """The shipped (Imagenette) examples: those of a classifier's classes, none for other
    classes, all for a pretraining model."""
    other = load_classifier(save_tiny_classifier(tmp_path / "pets.keras",
                                                 classes=["cat", "dog"]))
    assert [Path(f).stem for f in example_files(model)] == CLASSES
    assert example_files(other) == []
    assert len(example_files(pretext)) == len(list(EXAMPLES_DIR.iterdir())) == 6
    assert "dataset" in page(build_demo(model)) and "dataset" not in page(build_demo(other))
    status = page(build_demo(other))["status"]["value"]
    assert status == "Upload an image."


def markdowns(demo: gr.Blocks) -> list[str]:
    return [component["props"]["value"] for component in demo.get_config_file()["components"]
            if component["type"] == "markdown"]


def test_page_says_what_the_panels_are_and_what_a_small_pair_gives(model, probe):
    notes = [text for text in markdowns(build_demo(model))
             if text.startswith("**What the two networks see")]
    assert len(notes) == 1
    assert "one value per cell of a 12x12 grid" in notes[0].replace("\n", " ")
    assert ("A small pair trained briefly, like the shipped one, gives faint colours"
            in notes[0].replace("\n", " "))
    assert not any(text.startswith("**What the two networks see")
                   for text in markdowns(build_demo(probe)))  # it draws no panels


def test_cli_notes_an_unused_pretext(model_path, pretext_path, launched, capsys):
    assert app.main(["--model", str(model_path), "--pretext", str(pretext_path)]) == 0
    assert (f"note: --pretext {pretext_path} is not used: --model {model_path} draws its own "
            "colorizations") in capsys.readouterr().err
    assert "Colorizations** by" not in page(launched["demo"])["markdown"]["value"]


def test_cli_serves_on_host_and_port(model_path, launched, tmp_path):
    assert app.main(["--model", str(model_path), "--host", "0.0.0.0", "--port", "7999",
                     "--max-upload-mb", "1.5", "--cache-quota-mb", "100",
                     "--uploads-per-minute", "3", "--requests-per-minute", "7",
                     "--trusted-proxy", "10.0.0.2,10.1.0.0/16", "--trusted-proxy", "::1"]) == 0
    middleware = launched.pop("app_kwargs")["middleware"]
    assert [m.cls for m in middleware] == [SecurityHeaders, UploadLimits, CallLimits]
    limits = middleware[1].kwargs
    assert (limits["quota"], limits["per_minute"]) == (100 * MB, 3)
    assert limits["max_bytes"] == 3 * MB // 2 + MULTIPART_OVERHEAD
    assert middleware[2].kwargs == {"per_minute": 7}
    cache = Path(launched.pop("demo").GRADIO_CACHE)
    assert cache.parent == tmp_path and cache.name.startswith(CACHE_PREFIX)
    assert list(tmp_path.iterdir()) == []  # removed when launch returned
    assert launched == {"server_name": "0.0.0.0", "server_port": 7999,
                        "max_file_size": 3 * MB // 2, "ssr_mode": False,
                        "prevent_thread_lock": True, "quiet": True,
                        "FORWARDED_ALLOW_IPS": "10.0.0.2/32,10.1.0.0/16,::1/128"}
    assert "FORWARDED_ALLOW_IPS" not in os.environ


def test_cli_defaults_to_loopback_20_mb_512_mb_cache_10_uploads_30_requests(model_path,
                                                                             launched):
    assert app.main(["--model", str(model_path)]) == 0
    assert (launched["server_name"], launched["max_file_size"]) == ("127.0.0.1", 20 * MB)
    limits = launched["app_kwargs"]["middleware"][1].kwargs
    assert (limits["quota"], limits["per_minute"]) == (512 * MB, 10)
    assert launched["app_kwargs"]["middleware"][2].kwargs == {"per_minute": 30}
    assert launched["FORWARDED_ALLOW_IPS"] == ""  # no proxy trusted


def test_cli_names_a_port_in_use_in_one_line(model_path, launched, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert app.main(["--model", str(model_path), "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot serve on 127.0.0.1:{port}: Address already in use; choose another "
        "--port (or --host), or stop the server using it\n")
    assert "demo" not in launched


def test_cli_names_an_unwritable_temp_folder_in_one_line(model_path, monkeypatch, capsys,
                                                          tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file, not a folder")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(not_a_folder / "cache"))
    assert app.main(["--model", str(model_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot make the demo's cache folder in GRADIO_TEMP_DIR {not_a_folder}/cache: "
        "Not a directory; set GRADIO_TEMP_DIR to a folder this user can write\n")


@pytest.mark.parametrize("option", ["--max-upload-mb", "--cache-quota-mb"])
@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf", "20MB", ""])
def test_cli_refuses_bad_sizes(option, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        app.main([option, value])
    assert exit_info.value.code == 2
    assert (f"argument {option}: must be a finite positive number, not {value!r}"
            in capsys.readouterr().err)


PROXIES = "must be IP addresses or networks (such as 10.0.0.2 or 10.0.0.0/8), comma-separated"


@pytest.mark.parametrize("option, value, expected", [
    *[(option, value, "must be a whole number of at least 1")
      for option in ("--uploads-per-minute", "--requests-per-minute")
      for value in ("0", "-1", "1.5", "ten", "")],
    *[("--port", value, "must be a port number from 1 to 65535")
      for value in ("0", "99999", "-1", "http")],
    *[("--trusted-proxy", value, PROXIES)
      for value in ("proxy.example", "10.0.0.300", "10.0.0.1,", "")]])
def test_cli_refuses_bad_rates_ports_and_proxies(option, value, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        app.main([option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {expected}, not {value!r}" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def client(model):
    demo = build_demo(model, "tiny")  # the load test's 6 clients share one address
    serve(demo, port=free_port(), uploads_per_minute=100, requests_per_minute=100,
          prevent_thread_lock=True, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def test_served_api_classifies_and_reports_damaged_uploads(client, model, corrupt_png):
    label, gallery, status = client.predict(handle_file(str(GREY_CHURCH)),
                                            0.38, api_name="/classify")
    assert label["label"] in CLASSES
    assert sum(c["confidence"] for c in label["confidences"]) == pytest.approx(1.0, abs=1e-4)
    assert [item["caption"] for item in gallery] == [panel_captions(model)[n]
                                                     for n in GALLERY_PANELS]
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
