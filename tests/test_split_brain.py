"""The pretext model for every objective, its per-pixel loss and its save/reload."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_sb  # noqa: F401
from keras_sb.models import OBJECTIVES
from keras_sb.models.pixel_losses import PixelAccuracy, PixelCrossEntropy
from keras_sb.models.split_brain import SplitBrain


def numpy_pixel_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)
    return float(-picked.mean())


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_pixel_cross_entropy_matches_numpy(batch):
    rng = np.random.default_rng(batch)
    logits = rng.normal(size=(batch, 12, 12, 25)).astype(np.float32) * 3
    labels = rng.integers(0, 25, size=(batch, 12, 12))
    loss = float(PixelCrossEntropy()(labels, logits))
    assert loss == pytest.approx(numpy_pixel_cross_entropy(logits, labels), rel=1e-5)


def test_pixel_cross_entropy_gradient_matches_keras():
    rng = np.random.default_rng(0)
    logits = tf.Variable(rng.normal(size=(2, 12, 12, 25)).astype(np.float32) * 3)
    labels = rng.integers(0, 25, size=(2, 12, 12))
    gradients = []
    for loss in (PixelCrossEntropy(), keras.losses.SparseCategoricalCrossentropy(True)):
        with tf.GradientTape() as tape:
            value = loss(labels, logits)
        gradients.append(tape.gradient(value, logits).numpy())
    np.testing.assert_allclose(*gradients, atol=1e-7)
    assert np.abs(gradients[0]).max() > 1e-4


def test_soft_targets_spread_each_label_over_its_neighbours_and_survive_saving():
    centers = np.arange(10, dtype=np.float32)[:, None]  # 1D bins one unit apart
    loss = PixelCrossEntropy(centers, sigma=1.0)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 12, 12, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=(2, 12, 12))
    soft = np.exp(-((centers - centers.T) ** 2) / 2)
    soft /= soft.sum(-1, keepdims=True)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    expected = -(soft[labels] * log_probs).sum(-1).mean()
    assert float(loss(labels, logits)) == pytest.approx(expected, rel=1e-5)
    # a neighbour of the label costs less than a far class, unlike one-hot targets
    near, far = np.full((1, 1, 1, 10), -9.0, np.float32), np.full((1, 1, 1, 10), -9.0,
                                                                 np.float32)
    near[..., 5], far[..., 9] = 9.0, 9.0
    label = np.array([[[4]]])
    assert float(loss(label, near)) < float(loss(label, far)) - 3
    assert float(PixelCrossEntropy()(label, near)) == pytest.approx(
        float(PixelCrossEntropy()(label, far)))
    clone = PixelCrossEntropy.from_config(loss.get_config())
    assert float(clone(labels, logits)) == pytest.approx(float(loss(labels, logits)))


def test_pixel_accuracy_matches_keras_and_counts_ties_as_hits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 12, 12, 25)).astype(np.float32)
    labels = rng.integers(0, 25, size=(3, 12, 12))
    labels[0, 0, :5] = logits[0, 0, :5].argmax(-1)  # some hits for sure
    expected = keras.metrics.SparseCategoricalAccuracy()(labels, logits)
    assert float(PixelAccuracy()(labels, logits)) == pytest.approx(float(expected), abs=1e-7)
    tied = np.zeros((1, 2, 2, 4), np.float32)
    assert float(PixelAccuracy()(np.array([[[0, 3], [1, 2]]]), tied)) == 1.0


def channel_images(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, 96, 96, 3), dtype=np.float32)


# {objective: {output: (backbone input channels, head units)}} with l_bins=50, ab_bins=grid:8
OUTPUTS = {
    "split_brain": {"color": (1, 64), "lightness": (2, 50)},
    "split_brain_regression": {"color": (1, 2), "lightness": (2, 1)},
    "colorization": {"color": (1, 64)},
    "lightness": {"lightness": (2, 50)},
}


def test_every_objective_is_covered():
    assert set(OUTPUTS) == set(OBJECTIVES)


@pytest.mark.parametrize("objective", sorted(OUTPUTS))
def test_outputs_are_named_and_shaped(objective):
    model = SplitBrain("simple", width=0.25, l_bins=50, ab_bins="grid:8", objective=objective)
    outputs = model(channel_images(2))
    expected = OUTPUTS[objective]
    assert {name: tuple(x.shape) for name, x in outputs.items()} == {
        name: (2, 12, 12, units) for name, (_, units) in expected.items()}
    assert all(x.dtype == "float32" for x in outputs.values())
    for name, (channels, _) in expected.items():
        assert model.get_layer(f"{name}_net").input_shape[-1] == channels
        assert model.get_layer(f"{name}_head").kernel.shape[:2] == (5, 5)
    backbones = [layer.name for layer in model.layers if layer.name.endswith("_net")]
    assert sorted(backbones) == sorted(f"{name}_net" for name in expected)
    assert model.codec.target_size == 12


@pytest.mark.parametrize(("encoder", "side"), [("simple", 4), ("resnet", 8)])
def test_the_target_grid_follows_the_output_side(encoder, side):
    model = SplitBrain(encoder, width=0.0625, image_size=64)
    outputs = model(np.random.rand(1, 64, 64, 3).astype(np.float32))
    assert [tuple(x.shape[1:3]) for x in outputs.values()] == [(side, side)] * 2
    assert model.codec.target_size == side
    _, targets = model.task.encode(np.random.rand(1, 64, 64, 3).astype(np.float32))
    assert targets["color"].shape == (1, side, side)


# The metrics ``fit`` logs; Keras drops the output's name when there is only one.
LOGGED = {
    "split_brain": {"color_loss", "color_acc", "lightness_loss", "lightness_acc"},
    "split_brain_regression": {"color_loss", "color_mae", "lightness_loss", "lightness_mae"},
    "colorization": {"acc"},
    "lightness": {"acc"},
}


@pytest.mark.parametrize("objective", sorted(OUTPUTS))
def test_fit_with_partial_last_batch(objective):
    model = SplitBrain("simple", width=0.25, ab_bins="grid:4", objective=objective)
    assert model.compile_for_pretraining(1e-3) is model
    channels, targets = model.task.encode(np.random.rand(5, 96, 96, 3).astype(np.float32))
    history = model.fit(channels, targets, batch_size=4, epochs=1, verbose=0).history
    assert set(history) == {"loss"} | LOGGED[objective]
    assert all(np.isfinite(values[0]) for values in history.values())
    assert all(0 <= values[0] <= 1 for name, values in history.items() if name.endswith("acc"))
    assert model.optimizer.iterations.numpy() == 2  # 4 + 1 images


def test_feature_models_read_the_stages_or_the_heads():
    model = SplitBrain("simple", width=0.25)
    x = channel_images(2, seed=1)
    logits = model.feature_models("logits")
    assert {name: part for name, (part, _) in logits.items()} == {
        "color": slice(0, 1), "lightness": slice(1, 3)}
    outputs = model(x, training=False)
    for name, (part, extractor) in logits.items():
        np.testing.assert_allclose(extractor(x[..., part], training=False), outputs[name],
                                   atol=1e-6)
    conv2 = model.feature_models("conv2")
    assert [tuple(m.output.shape) for _, m in conv2.values()] == [(None, 24, 24, 6)] * 2
    with pytest.raises(ValueError, match="'conv9' is not a stage of the simple backbone; "
                                         "choose one of: conv1, conv2, conv3, conv4"):
        model.feature_models("conv9")


@pytest.mark.parametrize(("objective", "ab_bins"),
                         [("split_brain", "gamut"), ("split_brain_regression", "grid:10")])
def test_keras_save_and_reload_is_identical(tmp_path, objective, ab_bins):
    model = SplitBrain("simple", width=0.25, color_space="lab", l_bins=50, ab_bins=ab_bins,
                       objective=objective)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, SplitBrain)
    assert reloaded.get_config() == model.get_config()
    assert reloaded.get_config()["objective"] == objective
    assert reloaded.codec.get_config() == model.codec.get_config()
    assert reloaded.task.directions == model.task.directions
    images = channel_images(3, seed=2)
    expected, actual = model.predict(images, verbose=0), reloaded.predict(images, verbose=0)
    assert set(actual) == set(expected) == {"color", "lightness"}
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], atol=1e-6)


def test_centred_inputs_reach_the_first_conv_near_zero_mean_and_unit_spread():
    """Grey mid-lightness photos are the centre; the classifiers' feature models (which read
    the backbones, not the pretext model) see the same scaling."""
    from keras_sb.color import encode_channels

    model = SplitBrain(encoder="compact", width=0.0625, center_inputs=True)
    grey = encode_channels(np.full((1, 96, 96, 3), 0.47, np.float32), "lab")
    for name in ("lightness", "color"):
        part, extractor = model.feature_models("conv1")[name]
        scaling = extractor.get_layer("input_scaling")
        np.testing.assert_allclose(scaling(grey[..., part]), 0.0, atol=0.03)
    photos = encode_channels(channel_images(8, seed=1), "lab")
    scaled = model.get_layer("color_net").get_layer("input_scaling")(photos[..., :1])
    assert 0.5 < float(np.std(scaled)) < 2
    assert "input_scaling" not in [layer.name for layer in SplitBrain(width=0.0625).get_layer(
        "color_net").layers]
