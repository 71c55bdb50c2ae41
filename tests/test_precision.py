"""--mixed-precision: the policy chosen, bfloat16 training, and checkpoints that reload in
float32."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sb.cli import main
from keras_sb.models import SplitBrain, SplitBrainClassifier
from keras_sb.training.precision import cpu_has_bfloat16, mixed_policy, training_precision
from keras_sb.training.supervised import compile_classifier

SIZE = 64
needs_bfloat16 = pytest.mark.skipif(mixed_policy() != "mixed_bfloat16",
                                    reason="no CPU bfloat16 arithmetic (or a GPU)")


def test_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 sse\n")
    assert cpu_has_bfloat16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx2\n")
    assert not cpu_has_bfloat16(cpuinfo)
    cpuinfo.write_text("Features\t: fp asimd bf16 i8mm\n")  # Arm
    assert cpu_has_bfloat16(cpuinfo)
    assert not cpu_has_bfloat16(tmp_path / "missing")


def test_policy_is_restored():
    with training_precision(False) as name:
        assert name == "float32" == keras.config.dtype_policy().name
    with training_precision(True) as name:
        assert keras.config.dtype_policy().name == name == mixed_policy()
    assert keras.config.dtype_policy().name == "float32"


@needs_bfloat16
def test_a_tiny_model_trains_in_bfloat16_and_reloads_in_float32(tmp_path):
    keras.utils.set_random_seed(0)
    rgb = tf.random.uniform((8, SIZE, SIZE, 3), seed=1)
    with training_precision(True):
        pretext = SplitBrain("simple", width=0.25, l_bins=10, ab_bins="grid:4", image_size=SIZE)
        conv = pretext.get_layer("color_net").get_layer("conv1_conv")
        assert (conv.compute_dtype, conv.variable_dtype) == ("bfloat16", "float32")
        channels, targets = pretext.task.encode(rgb)
        assert all(v.dtype == "float32" for v in pretext(channels).values())  # float32 heads
        pretext.compile_for_pretraining(1e-3)
        loss = pretext.fit(channels, targets, epochs=1, verbose=0).history["loss"]
        assert np.isfinite(loss).all()
        classifier = SplitBrainClassifier(pretext, 2, ["a", "b"], feature_layer="conv3",
                                          feature_dims=256)
        compile_classifier(classifier, 1e-3, 1)
        classifier.fit(rgb, np.arange(8) % 2, epochs=1, verbose=0)
        mixed = classifier(rgb, training=False)
        assert mixed.dtype == "float32"
        classifier.save(tmp_path / "classifier.keras")
    loaded = keras.saving.load_model(tmp_path / "classifier.keras")
    assert loaded.get_layer("class_logits").compute_dtype == "float32"
    assert {w.dtype for w in loaded.weights} == {"float32"}
    # the same weights computing in float32: equal up to bfloat16's rounding
    np.testing.assert_allclose(loaded(rgb, training=False), mixed, atol=0.1, rtol=0.1)


@needs_bfloat16
def test_the_flag_is_recorded(tmp_path):
    out = tmp_path / "ft"
    assert main(["--stage", "finetune", "--init", "random", "--width", "0.25", "--image-size",
                 str(SIZE), "--labels-per-class", "2", "--epochs", "1", "--batch-size", "16",
                 "--feature-layer", "conv2", "--mixed-precision", "--no-progress",
                 "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["mixed_precision"] is True
    assert json.loads((out / "summary.json").read_text())["precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"
    assert isinstance(keras.saving.load_model(out / "best.keras"), SplitBrainClassifier)
