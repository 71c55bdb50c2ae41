"""Stage export: the SavedModel serves the Keras classifier's predictions with TensorFlow alone."""

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_sb.checkpoints import load_pretext
from keras_sb.cli import main
from keras_sb.color import encode_channels
from keras_sb.constants import DEFAULT_MODEL, DEFAULT_PRETEXT
from keras_sb.data.decode import as_float, center_crop, decode_image
from keras_sb.export import MAX_BATCH
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.split_brain import SplitBrain
from keras_sb.safe_io import temp_name

HERE = Path(__file__).resolve().parent
PHOTOS = sorted((HERE.parent / "keras_sb" / "sample_data" / "unsupervised").glob("*.jpg"))[:3]
CLASSES = ["a", "b", "c"]
TEMPERATURE = 0.2
QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def run(*command: str) -> str:
    """Stdout of ``command`` in a fresh process."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=QUIET)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def export(model_path: Path, out: Path, *flags: str) -> int:
    return main(["--stage", "export", "--model", str(model_path), "--out", str(out), *flags])


def decoded(paths: list[Path]) -> tf.Tensor:
    """keras_sb's own decoding of ``paths`` (the evaluation pipeline's centre crop)."""
    return as_float(tf.stack([center_crop(decode_image(tf.io.read_file(str(p))), 96)
                              for p in paths]))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    """Three photos: a 96x96 RGB JPEG, a 120x80 RGBA PNG and a 100x140 grey JPEG."""
    folder = tmp_path_factory.mktemp("images")
    Image.open(PHOTOS[1]).convert("RGBA").resize((120, 80)).save(folder / "wide.png")
    Image.open(PHOTOS[2]).convert("L").resize((100, 140)).save(folder / "grey.jpg")
    return [PHOTOS[0], folder / "wide.png", folder / "grey.jpg"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, images) -> tuple[SplitBrainClassifier, SplitBrain, Path]:
    """A (random) classifier on the logits features of a pretext model, and its SavedModel
    written by the CLI at ``--temperature TEMPERATURE``.

    The colour head is scaled up, so that its distributions are peaked and the temperature
    matters; the feature normalisation is set to the statistics of ``images`` and the class
    head scaled up, so that the three images get clearly different probabilities (errors
    would show).
    """
    folder = tmp_path_factory.mktemp("export")
    keras.utils.set_random_seed(0)
    pretext = SplitBrain("simple", width=0.25)
    # logits features: shares the pretext model's layers, heads included
    model = SplitBrainClassifier(pretext, 3, CLASSES, feature_layer="logits")
    color_head = pretext.get_layer("color_head")
    kernel, bias = color_head.get_weights()
    color_head.set_weights([kernel * 100, bias])
    features = keras.Model(model.input, model.get_layer("features").output)(decoded(images))
    mean, variance = tf.nn.moments(features, axes=[0])
    model.get_layer("feature_norm").set_weights([mean, variance + 1e-3])
    head = model.get_layer("class_logits")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 3, bias])
    model.save(folder / "classifier.keras")
    assert export(folder / "classifier.keras", folder / "1", "--temperature",
                  str(TEMPERATURE)) == 0
    return model, pretext, folder / "1"


@pytest.fixture(scope="module")
def served(exported, images) -> dict:
    """serve_check.py's report: every signature called on ``images``; it asserts that it did
    not import keras_sb."""
    output = run(sys.executable, str(HERE / "serve_check.py"), str(exported[2]), *map(str, images))
    return json.loads(output.splitlines()[-1])


@pytest.mark.slow
def test_serving_default_matches_the_keras_model(exported, images, served):
    model, _, _ = exported
    expected = tf.nn.softmax(model(decoded(images), training=False)).numpy()
    assert np.ptp(expected, axis=0).max() > 0.05  # the images are told apart
    result = {key: output["values"] for key, output in served["serving_default"].items()}
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-4)
    assert result["class_names"] == [CLASSES] * 3
    assert result["top_class"] == [CLASSES[i] for i in expected.argmax(axis=-1)]
    assert served["inputs"] == {name: ["image_bytes"]
                                for name in ("serving_default", "features", "colorize")}


def keras_colorized(pretext: SplitBrain, rgb: tf.Tensor, temperature: float) -> np.ndarray:
    """The colorization the pretext model computes: its annealed-mean ab at ``temperature``,
    resized to the input side, with the input's L, as uint8 RGB."""
    channels = encode_channels(rgb, pretext.codec.color_space)
    ab = pretext.task.predicted_channels(pretext(channels, training=False), temperature)["ab"]
    ab = tf.image.resize(ab, rgb.shape[1:3])
    rgb = pretext.codec.decode_rgb(tf.concat([channels[..., :1], ab], axis=-1))
    return np.round(rgb.numpy() * 255).astype(np.uint8)


@pytest.mark.slow
def test_colorize_matches_the_keras_model(exported, images, served):
    """The exported colours are the pretext model's at the export temperature. Up to one
    uint8 level: the SavedModel's graph (and its fused colour maths) rounds differently from
    eager Keras, so values near a half level may round the other way."""
    _, pretext, path = exported
    colorized = served["colorize"]["colorized"]
    assert (colorized["shape"], colorized["dtype"]) == ([3, 96, 96, 3], "uint8")
    image_bytes = tf.constant([p.read_bytes() for p in images])
    actual = tf.saved_model.load(str(path)).signatures["colorize"](
        image_bytes=image_bytes)["colorized"].numpy().astype(int)
    expected = keras_colorized(pretext, decoded(images), TEMPERATURE).astype(int)
    assert np.abs(actual - expected).max() <= 1
    assert np.mean(actual != expected) < 0.001
    other = keras_colorized(pretext, decoded(images), 0.38).astype(int)
    assert np.abs(actual - other).max() > 30  # the temperature is the one exported
    assert actual.std() > 1.0


@pytest.mark.slow
def test_features_signature(exported, served):
    model, _, _ = exported
    width = model.get_layer("features").output.shape[-1]
    features = served["features"]["features"]
    assert (features["shape"], features["dtype"]) == ([3, width], "float32")


@pytest.mark.slow
def test_saved_model_cli_lists_image_bytes(exported):
    output = run(str(Path(sys.executable).parent / "saved_model_cli"), "show", "--all",
                 "--dir", str(exported[2]))
    serving = output.split("signature_def['serving_default']:")[1].split("Method name")[0]
    assert "inputs['image_bytes']" in serving and "DT_STRING" in serving
    assert "outputs['probabilities']" in serving and "outputs['top_class']" in serving


def probe(folder: Path) -> Path:
    """A run folder holding a (random) linear probe as best.keras."""
    model = SplitBrainClassifier(SplitBrain("simple", width=0.25), 3, CLASSES,
                                 feature_layer="conv2", feature_dims=1000,
                                 freeze_backbone=True)
    (folder / "run").mkdir()
    model.save(folder / "run" / "best.keras")
    return folder / "run"


def test_a_linear_probe_exports_without_colorize(tmp_path, caplog):
    assert export(probe(tmp_path), tmp_path / "1") == 0  # a run folder: its best.keras
    assert "No colorize signature" in caplog.text
    signatures = tf.saved_model.load(str(tmp_path / "1")).signatures
    assert sorted(signatures) == ["features", "serving_default"]


def colorize_matches(path: Path, pretext: SplitBrain, images: list[Path]) -> None:
    """The SavedModel at ``path`` has every signature, and its ``colorize`` gives
    ``pretext``'s colours at the default temperature (up to one uint8 level, see
    test_colorize_matches_the_keras_model)."""
    signatures = tf.saved_model.load(str(path)).signatures
    assert sorted(signatures) == ["colorize", "features", "serving_default"]
    image_bytes = tf.constant([p.read_bytes() for p in images])
    actual = signatures["colorize"](image_bytes=image_bytes)["colorized"].numpy().astype(int)
    expected = keras_colorized(pretext, decoded(images), 0.38).astype(int)
    assert np.abs(actual - expected).max() <= 1


def test_a_probe_exports_colorize_with_its_pretext(tmp_path, images):
    """--pretext RUN, as in the demo: a classifier without pretext heads gets the colorize
    signature of the pretraining model's colour network."""
    keras.utils.set_random_seed(1)
    pretext = SplitBrain("simple", width=0.25)
    color_head = pretext.get_layer("color_head")
    kernel, bias = color_head.get_weights()
    color_head.set_weights([kernel * 100, bias])  # peaked colours, so that errors would show
    pretext.save(tmp_path / "pretext.keras")
    assert export(probe(tmp_path), tmp_path / "1", "--pretext",
                  str(tmp_path / "pretext.keras")) == 0
    colorize_matches(tmp_path / "1", pretext, images)


@pytest.mark.slow
def test_the_shipped_classifier_exports_colorize_with_the_shipped_pretext(tmp_path, images,
                                                                          caplog):
    caplog.set_level(logging.INFO, "keras_sb")
    assert export(Path(DEFAULT_MODEL), tmp_path / "1") == 0
    assert f"Colorize signature: the colour network of {DEFAULT_PRETEXT}" in caplog.text
    colorize_matches(tmp_path / "1", load_pretext(DEFAULT_PRETEXT), images)


def test_a_pretext_of_another_image_size_is_refused(tmp_path, capsys):
    SplitBrain("simple", width=0.25, image_size=64).save(tmp_path / "pretext.keras")
    assert export(probe(tmp_path), tmp_path / "1", "--pretext",
                  str(tmp_path / "pretext.keras")) == 2
    assert "does not match --model" in capsys.readouterr().err
    assert not (tmp_path / "1").exists()


@pytest.fixture(scope="module")
def after_a_kill(tmp_path_factory) -> tuple[Path, list[str]]:
    """A linear probe exported to ``models/2``, and the names in ``models`` beforehand: a
    killed export's temporary folder (``atomic_path``'s name, of a process that has ended), a
    running export's, and a folder of the user's named like a temporary."""
    folder = tmp_path_factory.mktemp("after_a_kill")
    models = folder / "models"
    ended = subprocess.Popen(["true"])
    ended.wait()
    killed = temp_name(models / "1").name.replace(f"-{os.getpid()}-", f"-{ended.pid}-", 1)
    before = [killed, temp_name(models / "3").name, ".tmp-notes"]
    for name in before:
        (models / name / "variables").mkdir(parents=True)
    assert export(probe(folder), models / "2") == 0
    return models, before


def test_an_export_removes_what_killed_exports_left(after_a_kill):
    models, (_, running, users) = after_a_kill
    assert sorted(path.name for path in models.iterdir()) == sorted(["2", running, users])


@pytest.fixture(scope="module")
def serving_default(after_a_kill) -> Callable:
    """The exported linear probe's ``serving_default``, loaded with TensorFlow."""
    return tf.saved_model.load(str(after_a_kill[0] / "2")).signatures["serving_default"]


@pytest.mark.parametrize(
    ("image_bytes", "message"),
    [
        ([], f"request of 0 images: send 1 to {MAX_BATCH} per request"),
        ([b"\x89PNG"] * (MAX_BATCH + 1), f"request of {MAX_BATCH + 1} images"),
        ([b"\x89PNG\r\n\x1a\n\x00\x00"], "Invalid PNG"),  # was a UnicodeDecodeError
        ([b"BM\xff\xfe"], "Incomplete bmp content"),  # was a UnicodeDecodeError
        ([b"\xff\xfe\xfd" * 10], "not a JPEG, PNG, GIF or BMP file"),
    ],
    ids=["empty", "too_many", "short_png", "short_bmp", "not_utf8"],
)
def test_bad_requests_are_invalid_arguments(serving_default, image_bytes, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serving_default(image_bytes=tf.constant(image_bytes, tf.string))


def test_a_request_of_max_batch_images_is_served(serving_default, images):
    image_bytes = tf.constant([images[i % 3].read_bytes() for i in range(MAX_BATCH)])
    assert serving_default(image_bytes=image_bytes)["probabilities"].shape == (MAX_BATCH, 3)


@pytest.mark.parametrize(
    ("model", "out", "message"),
    [
        ("backbone.keras", "1", "holds a SplitBrain, not a SplitBrainClassifier"),
        ("missing.keras", "1", "does not exist"),
        ("backbone.keras", "", "--out is required"),
    ],
)
def test_errors_name_the_problem(tmp_path, capsys, model, out, message):
    SplitBrain("simple", width=0.25).save(tmp_path / "backbone.keras")
    argv = ["--stage", "export", "--model", str(tmp_path / model)]
    assert main(argv + (["--out", str(tmp_path / out)] if out else [])) == 2
    assert message in capsys.readouterr().err
