"""Backbones: stage outputs and shapes, stage models, config and .keras round trips,
parameter counts."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_sb.cli import main
from keras_sb.models.backbones import (
    BACKBONES,
    AlexBackbone,
    CompactBackbone,
    GoogLeNetBackbone,
    ResNetBackbone,
    SimpleBackbone,
    build_backbone,
)
from keras_sb.models.batch_norm import BatchNormalization

NAMES = sorted(BACKBONES)
TINY = 0.0625

# {architecture: {stage: (side at 96 px, channels at width 1)}}, shallow to deep.
STAGES = {
    "simple": {"conv1": (48, 12), "conv2": (24, 24), "conv3": (20, 48), "conv4": (16, 96)},
    "alex": {"conv1": (48, 96), "conv2": (24, 256), "conv3": (12, 384), "conv4": (12, 384),
             "conv5": (12, 256), "fc6": (12, 4096), "fc7": (12, 4096)},
    "compact": {"conv1": (48, 32), "conv2": (24, 64), "conv3": (12, 128), "conv4": (12, 256),
                "conv5": (12, 256)},
    "resnet": {"stem": (48, 64), "stage1": (24, 64), "stage2": (24, 128),
               "stage3": (24, 256), "stage4": (24, 512), "pool": (12, 512)},
    "googl": {"stem": (48, 192), "inception3": (48, 480), "inception4": (24, 832),
              "inception5": (12, 1024)},
}


def images(batch: int, channels: int, size: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)).astype(
        "float32"
    )


def assert_outputs_equal(actual: dict, expected: dict, atol: float = 0.0) -> None:
    assert list(actual) == list(expected)
    for stage in expected:
        np.testing.assert_allclose(actual[stage], expected[stage], atol=atol, err_msg=stage)


def test_registry() -> None:
    expected = {
        "simple": SimpleBackbone,
        "alex": AlexBackbone,
        "compact": CompactBackbone,
        "resnet": ResNetBackbone,
        "googl": GoogLeNetBackbone,
    }
    assert expected == BACKBONES
    assert list(STAGES) == list(BACKBONES)
    for name, cls in BACKBONES.items():
        assert cls.architecture == name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 2])
def test_outputs_are_the_stages_with_scaled_widths(name: str, channels: int) -> None:
    model = build_backbone(name, in_channels=channels, width=TINY)
    out = model(images(2, channels), training=False)
    expected = {stage: (2, side, side, max(1, round(width * TINY)))
                for stage, (side, width) in STAGES[name].items()}
    assert {stage: tuple(x.shape) for stage, x in out.items()} == expected
    assert list(out) == model.stage_names == list(expected)
    assert model.deepest == model.stage_names[-1]
    assert all(x.dtype == "float32" for x in out.values())


@pytest.mark.parametrize("name", NAMES)
def test_a_head_on_the_deepest_stage_gives_the_12x12_grid(name: str) -> None:
    model = build_backbone(name, in_channels=1, width=TINY)
    assert model.output[model.deepest].shape[1] - model.head_kernel + 1 == 12


@pytest.mark.parametrize("name", NAMES)
def test_partial_batch(name: str) -> None:
    model = build_backbone(name, in_channels=1, width=TINY)
    out = model(images(3, 1), training=False)
    assert all(x.shape[0] == 3 for x in out.values())


@pytest.mark.parametrize("name", NAMES)
def test_image_size_64(name: str) -> None:
    """Sides scale with S (8 at the deepest stage), except the simple net's valid 5x5 convs,
    which take 4 then 8 pixels off (S/4 - 4, S/4 - 8)."""
    model = build_backbone(name, in_channels=1, width=TINY, image_size=64)
    sides = {stage: x.shape[1] for stage, x in model(images(2, 1, size=64)).items()}
    expected = {stage: side * 2 // 3 for stage, (side, _) in STAGES[name].items()}
    if name == "simple":
        expected.update(conv3=12, conv4=8)
    assert sides == expected


@pytest.mark.parametrize("name", NAMES)
def test_image_size_not_multiple_of_8(name: str) -> None:
    with pytest.raises(ValueError, match="multiple of 8 from .* got 100"):
        build_backbone(name, in_channels=1, width=TINY, image_size=100)


@pytest.mark.parametrize("encoder,size", [("simple", 48), ("simple", 8), ("alex", 4096)])
def test_an_image_size_out_of_range_is_refused_before_the_run_folder(encoder, size, tmp_path,
                                                                     capsys) -> None:
    """Sizes that would fail inside Keras (or take gigabytes) end in one line naming the
    flag, and leave no config.json to block the corrected command."""
    out = tmp_path / "run"
    assert main(["--stage", "pretrain", "--encoder", encoder, "--image-size", str(size),
                 "--out", str(out)]) == 2
    assert "--image-size must be a multiple of 8 from" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_architecture() -> None:
    with pytest.raises(ValueError, match=r"Unknown encoder 'vgg'; choose one of \['alex'"):
        build_backbone("vgg", in_channels=1)


@pytest.mark.parametrize("name", NAMES)
def test_layer_names_unique_and_bn_after_every_conv(name: str) -> None:
    model = build_backbone(name, in_channels=1, width=TINY)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs
    for conv in convs:
        assert conv.name.endswith("_conv") and not conv.use_bias, conv.name
        bn = model.get_layer(conv.name.removesuffix("conv") + "bn")
        assert isinstance(bn, BatchNormalization) and bn.synchronized
        assert bn.input is conv.output, conv.name  # the BN normalises this conv's output


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name: str) -> None:
    model = build_backbone(name, in_channels=2, width=TINY, name="lightness_net")
    config = model.get_config()
    assert config == {"in_channels": 2, "width": TINY, "image_size": 96, "depth": 1,
                      "input_center": None, "input_scale": None,
                      "name": "lightness_net", "trainable": True}
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    assert clone.stage_names == model.stage_names
    clone.set_weights(model.get_weights())
    x = images(2, 2, seed=1)
    assert_outputs_equal(clone(x, training=False), model(x, training=False))


@pytest.mark.parametrize("name", NAMES)
def test_keras_save_load(name: str, tmp_path) -> None:
    model = build_backbone(name, in_channels=1, width=TINY)
    x = images(2, 1, seed=2)
    model(x, training=True)  # moves the BN statistics off their initial values
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert_outputs_equal(loaded(x, training=False), model(x, training=False), atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_stage_model_stops_at_its_stage_and_shares_the_weights(name: str) -> None:
    model = build_backbone(name, in_channels=1, width=TINY)
    stage = model.stage_names[1]
    part = model.stage_model(stage)
    assert part.name == f"{model.name}_{stage}"
    assert 1 < len(part.layers) < len(model.layers)
    assert all(layer is model.get_layer(layer.name) for layer in part.layers)
    x = images(2, 1, seed=3)
    np.testing.assert_array_equal(part(x, training=False), model(x, training=False)[stage])
    deepest = model.stage_model(model.deepest)
    assert len(deepest.layers) == len(model.layers)


def test_unknown_stage_lists_the_stages() -> None:
    model = build_backbone("resnet", in_channels=1, width=TINY)
    with pytest.raises(ValueError, match="'conv3' is not a stage of the resnet backbone; "
                                         "choose one of: stem, stage1, stage2, stage3, "
                                         "stage4, pool"):
        model.stage_model("conv3")


@pytest.mark.parametrize(
    ("name", "in_channels", "width", "params"),
    [
        ("simple", 2, 1.0, 149_712),  # 389,812 with the 5x5 head of 100 classes
        ("compact", 1, 1.0, 1_052_032),
        ("alex", 1, 1.0, 71_918_304),
        ("alex", 1, 0.5, 17_992_048),
        ("resnet", 1, 1.0, 11_179_840),
        ("googl", 1, 1.0, 6_160_448),
    ],
)
def test_parameter_counts_and_full_width_shapes(name, in_channels, width, params) -> None:
    """Head-less counts (BatchNorm statistics included), as the class docstrings state."""
    model = build_backbone(name, in_channels=in_channels, width=width)
    assert model.count_params() == params
    shapes = {stage: tuple(x.shape[1:]) for stage, x in model.output.items()}
    assert shapes == {stage: (side, side, round(channels * width))
                      for stage, (side, channels) in STAGES[name].items()}
    if width == 1.0 and name != "simple":
        docstring = " ".join(type(model).__doc__.split())
        assert f"{params:,} parameters with in_channels=1 at width 1" in docstring


def test_depth_adds_convs_to_each_stage_of_compact_only() -> None:
    deep = build_backbone("compact", in_channels=1, width=TINY, depth=3)
    shallow = build_backbone("compact", in_channels=1, width=TINY)
    assert deep.stage_names == shallow.stage_names
    convs = [layer for layer in deep.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 4 * 3
    assert type(deep).from_config(deep.get_config()).depth == 3
    with pytest.raises(ValueError, match="--depth must be 1 for the simple backbone .* "
                                         "applies to: compact"):
        build_backbone("simple", in_channels=1, depth=2)


def receptive_field_centre(name: str, cell: int, size: int) -> np.ndarray:
    """(row, column) midpoint, in input pixels, of the pixels that the deepest stage's output
    at (cell, cell), after the head, depends on (its receptive field, where not cut by the
    image's border)."""
    import tensorflow as tf

    model = build_backbone(name, in_channels=1, width=0.25, image_size=size)
    head = keras.layers.Conv2D(1, model.head_kernel)
    x = tf.constant(images(1, 1, size=size, seed=4))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = head(model(x, training=False)[model.deepest])[0, cell, cell, 0]
    rows, cols = np.nonzero(tape.gradient(out, x)[0, ..., 0].numpy())
    return np.array([rows.min() + rows.max(), cols.min() + cols.max()]) / 2


def test_compact_outputs_are_centred_on_their_target_cells() -> None:
    """Cell i of the target grid is pixels 8i..8i+7 of the image: compact's output cell looks
    there (at 256 px, where cell 16's field is inside the image); at 96 px simple's cell 1
    (valid convs) looks about 20 pixels further in."""
    assert np.abs(receptive_field_centre("compact", 16, 256) - (8 * 16 + 3.5)).max() <= 0.5
    assert np.abs(receptive_field_centre("simple", 1, 96) - (8 * 1 + 3.5)).min() > 15
