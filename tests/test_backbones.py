"""Encoders: output shapes, config and .keras round trips, parameter counts."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_sb.models.encoders import (
    ENCODERS,
    AlexEncoder,
    GoogLeNetEncoder,
    ResNetEncoder,
    SimpleEncoder,
    build_encoder,
)

NAMES = sorted(ENCODERS)
TINY = 0.0625


def images(batch: int, channels: int, size: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)).astype(
        "float32"
    )


def test_registry() -> None:
    expected = {
        "simple": SimpleEncoder,
        "alex": AlexEncoder,
        "resnet": ResNetEncoder,
        "googl": GoogLeNetEncoder,
    }
    assert expected == ENCODERS
    for name, cls in ENCODERS.items():
        assert cls.architecture == name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 2])
def test_output_shape(name: str, channels: int) -> None:
    model = build_encoder(name, in_channels=channels, num_classes=7, width=TINY)
    out = model(images(2, channels), training=False)
    assert tuple(out.shape) == (2, 12, 12, 7)
    assert out.dtype == "float32"


@pytest.mark.parametrize("name", NAMES)
def test_partial_batch(name: str) -> None:
    model = build_encoder(name, in_channels=1, num_classes=5, width=TINY)
    assert tuple(model(images(3, 1), training=False).shape) == (3, 12, 12, 5)


# SimpleEncoder's valid 5x5 convs take 12 px off the side: S -> S/4 - 12, which is S/8 only at 96.
@pytest.mark.parametrize("name", NAMES)
def test_image_size_64(name: str) -> None:
    """S/8 outputs, except the seed's simple net whose valid 5x5 convs give S/4 - 12."""
    model = build_encoder(name, in_channels=1, num_classes=5, width=TINY, image_size=64)
    side = 4 if name == "simple" else 8
    assert tuple(model(images(2, 1, size=64), training=False).shape) == (2, side, side, 5)


@pytest.mark.parametrize("name", NAMES)
def test_image_size_not_multiple_of_8(name: str) -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        build_encoder(name, in_channels=1, num_classes=5, width=TINY, image_size=100)


def test_unknown_architecture() -> None:
    with pytest.raises(ValueError, match="Unknown encoder"):
        build_encoder("vgg", in_channels=1, num_classes=5)


def test_layer_names_unique_and_bn_after_every_conv() -> None:
    for name in NAMES:
        model = build_encoder(name, in_channels=1, num_classes=5, width=TINY)
        names = [layer.name for layer in model.layers]
        assert len(names) == len(set(names)), name
        convs = [n for n in names if isinstance(model.get_layer(n), keras.layers.Conv2D)]
        for conv in convs:
            if conv != "logits":
                assert conv.endswith("_conv") and conv[: -len("conv")] + "bn" in names, conv
        assert model.get_layer("logits").dtype_policy.compute_dtype == "float32"


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name: str) -> None:
    model = build_encoder(name, in_channels=2, num_classes=6, width=TINY, name="lightness_net")
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    assert clone.name == "lightness_net"
    clone.set_weights(model.get_weights())
    x = images(2, 2, seed=1)
    np.testing.assert_array_equal(clone(x, training=False), model(x, training=False))


@pytest.mark.parametrize("name", NAMES)
def test_keras_save_load(name: str, tmp_path) -> None:
    model = build_encoder(name, in_channels=1, num_classes=6, width=TINY)
    x = images(2, 1, seed=2)
    model(x, training=True)  # moves the BN statistics off their initial values
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)


def test_param_counts_width_1() -> None:
    simple = build_encoder("simple", in_channels=2, num_classes=100)
    assert simple.count_params() == 389_812
    alex = build_encoder("alex", in_channels=1, num_classes=100)
    assert 70_000_000 < alex.count_params() < 75_000_000  # ~72M, as in the seed system
    half = build_encoder("alex", in_channels=1, num_classes=100, width=0.5)
    assert half.count_params() * 3 < alex.count_params()
