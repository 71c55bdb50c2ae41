"""A classifier as a TensorFlow SavedModel for TF Serving: encoded image bytes in, predictions out.

Every signature takes ``image_bytes``, a [N] batch of encoded JPEG, PNG, BMP or GIF strings of
any size, 1 <= N <= ``MAX_BATCH`` and at most ``MAX_REQUEST_WORK`` of decoding work in all;
decoding, resizing and cropping are the evaluation pipeline's, inside the graph. Empty,
oversized and unreadable requests fail with ``INVALID_ARGUMENT`` and a one-line message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from keras_sb.color import encode_channels
from keras_sb.data.decode import (
    MAX_DECODE_WORK,
    as_float,
    center_crop,
    decode_image,
    decoding_work,
)
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.split_brain import SplitBrain

log = logging.getLogger("keras_sb")

IMAGE_BYTES = tf.TensorSpec([None], tf.string, name="image_bytes")
MAX_BATCH = 64  # images per request (docs/serving.md): 64 photos took 38 MB beyond the model
MAX_REQUEST_WORK = 4 * MAX_DECODE_WORK  # decoding work of a request, in samples (docs/serving.md)


def preprocess(image_bytes: tf.Tensor, size: int) -> tf.Tensor:
    """[N] encoded images -> float32 [N, size, size, 3] RGB in [0, 1] (centre crop).

    One image at a time, so a request's memory is one image's (``decode_image`` bounds that),
    not ten's (``map_fn``'s default parallelism). N outside 1 to ``MAX_BATCH``, an image over
    the decoder's limits or images needing more than ``MAX_REQUEST_WORK`` of decoding work in
    all (read from their headers) raise ``tf.errors.InvalidArgumentError`` before anything is
    decoded.
    """
    count = tf.size(image_bytes)
    message = tf.strings.format(f"request of {{}} images: send 1 to {MAX_BATCH} per request",
                                count)
    in_bounds = tf.raw_ops.Assert(condition=(count >= 1) & (count <= MAX_BATCH), data=[message])
    with tf.control_dependencies([in_bounds]):
        work = tf.reduce_sum(tf.map_fn(decoding_work, image_bytes, parallel_iterations=1,
                                       fn_output_signature=tf.int64))
    message = tf.strings.format(
        f"request needs {{}} samples of decoding work: more than the limit of "
        f"{MAX_REQUEST_WORK:,} (docs/serving.md); send fewer or smaller images per request", work)
    within = tf.raw_ops.Assert(condition=work <= MAX_REQUEST_WORK, data=[message])
    with tf.control_dependencies([within]):
        image_bytes = tf.identity(image_bytes)
    images = tf.map_fn(lambda contents: center_crop(decode_image(contents), size), image_bytes,
                       fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8),
                       parallel_iterations=1)
    return as_float(images)


def _classify_fn(model: SplitBrainClassifier, size: int) -> Callable:
    names = tf.constant(model.class_names)

    def serving_default(image_bytes):
        # model.temperature is a Python float: tracing bakes it into the graph as a constant.
        probabilities = model.probabilities(model(preprocess(image_bytes, size), training=False))
        return {
            "probabilities": probabilities,
            "class_names": tf.tile(names[None], [tf.shape(probabilities)[0], 1]),
            "top_class": tf.gather(names, tf.argmax(probabilities, axis=-1)),
        }

    return serving_default


def _features_fn(model: SplitBrainClassifier, size: int) -> Callable:
    extractor = keras.Model(model.input, model.get_layer("feature_norm").input)

    def features(image_bytes):
        return {"features": extractor(preprocess(image_bytes, size), training=False)}

    return features


def _colorize_fn(colorizer: SplitBrainClassifier | SplitBrain, size: int,
                 temperature: float) -> Callable:
    task = colorizer.task

    def colorize(image_bytes):
        channels = encode_channels(preprocess(image_bytes, size), task.codec.color_space)
        ab = task.predicted_channels(colorizer.pretext_outputs(channels), temperature)["ab"]
        ab = tf.image.resize(ab, [size, size])
        rgb = task.codec.decode_rgb(tf.concat([channels[..., :1], ab], axis=-1))
        return {"colorized": tf.cast(tf.round(rgb * 255.0), tf.uint8)}

    return colorize


def _describe(name: str, fn: tf.types.experimental.GenericFunction) -> str:
    outputs = fn.get_concrete_function().structured_outputs
    shown = ", ".join(f"{key} {spec.dtype.name} {_dims(spec.shape)}"
                      for key, spec in outputs.items())
    return f"  {name}(image_bytes: string [N]) -> {shown}"


def _dims(shape: tf.TensorShape) -> str:
    return "[" + ", ".join("N" if dim is None else str(dim) for dim in shape) + "]"


def export_saved_model(model: SplitBrainClassifier, out_dir: str | Path,
                       temperature: float = 0.38, pretext: SplitBrain | None = None) -> Path:
    """Write ``model`` as a SavedModel in ``out_dir`` and return that path.

    Signatures, each on ``image_bytes``: ``serving_default`` -> ``probabilities`` [N, C]
    (calibrated, softmax(logits / ``model.temperature``), that temperature fixed at export),
    ``class_names`` [N, C] (model order) and ``top_class`` [N]; ``features`` -> the
    concatenated features [N, D]; ``colorize`` -> ``colorized`` uint8 [N, S, S, 3], the
    input's L with the L->ab network's annealed-mean ab at ``temperature`` (the colorization
    temperature, not the classifier's). The colours come from ``model`` when it keeps the
    whole colour network (``logits`` features), else from ``pretext``, the pretraining model
    it was trained from (of the same image size and colour space, see
    ``keras_sb.checkpoints.check_pretext``); without either, there is no ``colorize``.
    """
    size = model.input_shape[1]
    endpoints = {"serving_default": _classify_fn(model, size),
                 "features": _features_fn(model, size)}
    colorizer = model if model.has_pretext_heads else pretext
    if colorizer is not None and colorizer.task.predicts("ab"):
        endpoints["colorize"] = _colorize_fn(colorizer, size, temperature)
    elif colorizer is None:
        log.warning("No colorize signature: this classifier keeps the backbones only up to %s "
                    "and no pretraining model was given to draw the colours (--pretext RUN, "
                    "the pretraining run it was trained from)", model.feature_layer)
    else:
        log.warning("No colorize signature: %s predicts no colours (objective %s)",
                    "this classifier" if colorizer is model else "the pretraining model",
                    colorizer.task.objective)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if "colorize" in endpoints and colorizer is not model:
        archive.track(colorizer)
    described = [_describe(name, archive.add_endpoint(name, fn, [IMAGE_BYTES]))
                 for name, fn in endpoints.items()]
    out = Path(out_dir)
    archive.write_out(str(out), verbose=False)
    log.info("Signatures:\n%s", "\n".join(described))
    return out
