"""The demo's handlers: plain functions of a file path, an upload or a PIL image.

:func:`load_model` reads the checkpoints (the pretraining model that draws a classifier's
colorizations: ``keras_sb.checkpoints.load_pretext``), :func:`read_image` and
:func:`read_regular_file` the uploads, :func:`analyse` gives everything the page shows for one
image (class probabilities from :func:`classify`, colorizations from :func:`panels`).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from keras_sb.checkpoints import CheckpointError, checkpoint_path, load_checkpoint
from keras_sb.commands import command
from keras_sb.data.decode import as_float, center_crop, decode_image
from keras_sb.evaluation import FEW_IMAGES, wilson_interval
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.split_brain import SplitBrain
from keras_sb.safe_io import MAX_FILE_BYTES, read_regular_file
from keras_sb.visualize import reconstructions

DEFAULT_TEMPERATURE = 0.38
TEMPERATURE_RANGE = (0.05, 1.0)
PANEL_SIDE = 192  # gallery tiles are upscaled (nearest) so the 12x12 targets stay visible
# Gallery order: what goes in, the two predictions, both together, then the 12x12 targets.
GALLERY_PANELS = ("input", "lightness_input", "predicted_color", "predicted_lightness",
                  "recombined", "target_color", "target_lightness")
MODE_NAMES = {"1": "black-and-white", "L": "greyscale", "LA": "greyscale + alpha",
              "I": "32-bit greyscale", "I;16": "16-bit greyscale", "P": "palette",
              "PA": "palette + alpha", "RGBA": "RGBA (alpha dropped)", "CMYK": "CMYK",
              "YCbCr": "YCbCr"}
EMPTY_STATUS = "Upload an image or pick one of the examples."
# How a classifier command's --out names the run folders of its parts.
CLASSIFIER_PARTS = ("pretrain", "finetune", "linprobe")
RUN_CHECKPOINT = re.compile(r"(best|last|epoch_\d{3,})\.keras")  # the .keras files runs write


class Upload(NamedTuple):
    """The bytes of an uploaded file and its name (for messages)."""

    contents: bytes
    name: str


ImageSource = str | os.PathLike | Image.Image | Upload
DemoModel = SplitBrainClassifier | SplitBrain


def next_step() -> str:
    """How to train a classifier from a pretraining run, in the spelling of the command that
    started the demo."""
    return (f"`{command('linprobe')} --init RUN` (a linear probe) or `{command('finetune')} "
            "--init RUN` (fine-tuning), RUN being this pretraining run folder or its .keras file")


class ImageError(ValueError):
    """An upload that is not a readable image; the message says why."""


class DemoOutput(NamedTuple):
    """What the page shows: class probabilities, captioned panels and a status line."""

    label: dict[str, float]
    gallery: list[tuple[np.ndarray, str]]
    status: str


def _run_folder(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """The checkpoint file ``path`` names and the run folder that wrote it (None for a file
    outside a run: no summary.json, config.json or metrics.json beside it, and not named as
    a run names its checkpoints)."""
    file = checkpoint_path(Path(path).expanduser()).resolve()
    folder = file.parent
    is_run = RUN_CHECKPOINT.fullmatch(file.name) or any(
        (folder / name).is_file() for name in ("summary.json", "config.json", "metrics.json"))
    return file, folder if is_run else None


def model_label(path: str | os.PathLike) -> str:
    """How the page names the checkpoint at ``path``, without a server path: a run by its
    folder (``myrun/finetune`` for a part of a classifier command's run), with the file's name
    unless it is the run's best.keras; a file outside a run (or a ``path`` that names no
    checkpoint) by its name."""
    try:
        file, folder = _run_folder(path)
    except CheckpointError:
        return Path(path).name
    if folder is None:
        return file.name
    label = (f"{folder.parent.name}/{folder.name}" if folder.name in CLASSIFIER_PARTS
             else folder.name)
    return label if file.name == "best.keras" else f"{label}/{file.name}"


def run_summary(path: str | os.PathLike) -> dict:
    """The summary of the run that wrote the checkpoint at ``path``: its summary.json, or the
    ``summary`` of a shipped model's metrics.json; {} when there is none or it is not valid
    JSON."""
    try:
        _, folder = _run_folder(path)
    except CheckpointError:
        return {}
    for name, key in (("summary.json", None), ("metrics.json", "summary")):
        try:
            summary = json.loads((folder / name).read_text()) if folder else None
        except (OSError, ValueError):  # absent, unreadable, damaged
            continue
        summary = summary.get(key) if key and isinstance(summary, dict) else summary
        if isinstance(summary, dict):
            return summary
    return {}


def scores_line(model: SplitBrainClassifier, summary: dict) -> str:
    """The classifier's held-out top-1 (from its run's ``summary``, when it has one) and
    whether its probabilities are calibrated, in Markdown."""
    top1, images = summary.get("holdout_top1"), summary.get("holdout_images")
    line = ""
    if isinstance(top1, int | float) and isinstance(images, int) and images > 0:
        line = f"**Held-out top-1** {top1:.1%} on {images:,} images"
        if images < FEW_IMAGES:
            low, high = wilson_interval(round(top1 * images), images)
            line += (f" (95 % interval {low:.0%}-{high:.0%}: too few images for a precise "
                     "figure)")
        if summary.get("reported_on") == "val" and isinstance(summary.get("val_top1"),
                                                                int | float):
            line += f"; val top-1 {summary['val_top1']:.1%}"
        line += ". "
    if summary.get("temperature_fitted", model.temperature != 1.0):
        return (f"{line}**Calibrated**: yes, temperature {model.temperature:.2f} fitted on the "
                "held-out images.")
    return (f"{line}**Calibrated**: no, too few held-out images to fit a temperature; the "
            "probabilities are the plain softmax.")


def load_classifier(path: str | os.PathLike) -> SplitBrainClassifier:
    """A ``SplitBrainClassifier`` from a .keras file or a run folder (its best.keras)."""
    return load_checkpoint(path, SplitBrainClassifier)


def load_model(path: str | os.PathLike, flag: str = "--model") -> DemoModel:
    """A classifier or a pretraining model (``SplitBrain``) from a .keras file or a run folder
    (its best.keras); anything else is a ``CheckpointError`` naming ``flag`` and the path."""
    model = load_checkpoint(path, keras.Model, flag)
    if not isinstance(model, SplitBrainClassifier | SplitBrain):
        raise CheckpointError(f"{flag} {checkpoint_path(path, flag)} holds a "
                              f"{type(model).__name__}, not a SplitBrainClassifier (from "
                              f"{command('finetune')} or linprobe) or a SplitBrain (from "
                              f"{command('pretrain')})")
    return model


def image_size(model: DemoModel) -> int:
    return model.input_shape[1]


def _colorizer(model: DemoModel, pretext: SplitBrain | None) -> DemoModel | None:
    """The model that draws the colorizations: ``model`` if it can, else ``pretext``."""
    if isinstance(model, SplitBrain) or model.has_pretext_heads:
        return model
    return pretext


def _encoded(source: ImageSource) -> tuple[bytes, str]:
    """The encoded bytes of ``source`` and a name for it (a PIL image is written as PNG)."""
    if isinstance(source, Upload):
        return source
    if isinstance(source, Image.Image):
        buffer = io.BytesIO()
        source.convert("RGB").save(buffer, "PNG")
        return buffer.getvalue(), "image"
    path = Path(source)
    try:
        return read_regular_file(path, MAX_FILE_BYTES, follow_links=True), path.name
    except OSError as error:
        raise ImageError(f"cannot read {path.name}: {error.strerror}") from error


def _describe(source: ImageSource, contents: bytes) -> str:
    """The colour mode and frame count as a phrase ('' for a single RGB image)."""
    try:
        image = source if isinstance(source, Image.Image) else Image.open(io.BytesIO(contents))
    except (UnidentifiedImageError, OSError):
        return ""  # a format PIL does not know but TensorFlow may (e.g. JPEG XL)
    notes = []
    if image.mode != "RGB":
        notes.append(f"converted {MODE_NAMES.get(image.mode, image.mode)} to RGB")
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        notes.append(f"used the first of {frames} frames")
    return "; ".join(notes)


def read_image(source: ImageSource, size: int) -> tuple[np.ndarray, str]:
    """``source`` -> (float32 [size, size, 3] in [0, 1], a note on what was changed).

    Decoded by keras_sb's ``decode_image`` and centre-cropped after resizing the shorter side
    to ``size``, exactly as in evaluation. Raises ``ImageError`` for unreadable files.
    """
    contents, name = _encoded(source)
    try:
        image = decode_image(tf.constant(contents))
    except tf.errors.OpError as error:
        reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", error.message, flags=re.S)
        reason = re.sub(r"^assertion failed: \[(.*)\]$", r"\1", reason.strip(), flags=re.S)
        raise ImageError(f"{name} is not a readable image: {reason}") from None
    height, width = image.shape[:2]
    notes = []
    if (height, width) != (size, size):
        notes.append(f"resized {width}x{height} to {size}x{size} (shorter side to {size}, "
                     "centre crop, as in evaluation)")
    notes.append(_describe(source, contents))
    return as_float(center_crop(image, size)).numpy(), "; ".join(filter(None, notes))


def classify(model: SplitBrainClassifier, rgb: np.ndarray) -> dict[str, float]:
    """Calibrated class probabilities {class name: p} for one float32 [S, S, 3] image."""
    logits = model(rgb[None], training=False)
    probabilities = model.probabilities(logits[0]).numpy()
    return {name: float(p) for name, p in zip(model.class_names, probabilities, strict=True)}


def panel_captions(model: DemoModel) -> dict[str, str]:
    """{panel name: caption} for the panels ``model`` draws, each caption with the resolution
    the panel shows: the image's (e.g. 96x96) or the grid's (e.g. 12x12) for the predictions
    (smoothed to the image's size) and the targets (one value per cell)."""
    side, grid = image_size(model), model.codec.target_size
    image, cells = f"{side}x{side}", f"{grid}x{grid}"
    return {"input": f"input ({image})",
            "lightness_input": f"L input ({image})",
            "predicted_color": f"L->ab ({cells})",
            "predicted_lightness": f"ab->L ({cells})",
            "recombined": f"L+ab ({cells})",
            "target_color": f"target ab ({cells} cells)",
            "target_lightness": f"target L ({cells} cells)"}


def panels(model: DemoModel, rgb: np.ndarray,
           temperature: float) -> list[tuple[np.ndarray, str]]:
    """Panels (those of ``GALLERY_PANELS`` the model's objective has) as uint8 tiles upscaled
    to ``PANEL_SIDE`` pixels (nearest: a 12x12 target shows as 12x12 cells), with the captions
    of :func:`panel_captions`; ``model`` is a pretraining model or a classifier with pretext
    heads."""
    images = reconstructions(model, rgb[None], temperature)
    captions = panel_captions(model)
    items = []
    for name in (name for name in GALLERY_PANELS if name in images):
        tile = Image.fromarray(images[name][0]).resize((PANEL_SIDE, PANEL_SIDE), Image.NEAREST)
        items.append((np.asarray(tile), captions[name]))
    return items


def analyse(model: DemoModel, source: ImageSource | None,
            temperature: float = DEFAULT_TEMPERATURE,
            pretext: SplitBrain | None = None) -> DemoOutput:
    """Everything the page shows for one image; unreadable images give a message, not an error.

    ``model`` is a classifier (class probabilities) or a pretraining model (no classes).
    The colorizations are drawn by ``model`` when it can, else by ``pretext``, a pretraining
    model of the classifier's image size and colour space (see :func:`check_pretext`); a
    classifier without pretext heads and no ``pretext`` gives none.
    ``temperature`` (clipped to ``TEMPERATURE_RANGE``) is the annealed-mean temperature used
    to decode both predicted distributions.
    """
    if source is None:
        return DemoOutput({}, [], EMPTY_STATUS)
    size = image_size(model)
    try:
        rgb, note = read_image(source, size)
    except ImageError as error:
        return DemoOutput({}, [], f"⚠️ **Could not use this file.** {error}")
    temperature = min(max(float(temperature), TEMPERATURE_RANGE[0]), TEMPERATURE_RANGE[1])
    status = f"Input: {note}." if note else f"Input: used as is ({size}x{size} RGB)."
    if isinstance(model, SplitBrain):
        status += (" This is a pretraining model: it predicts colours and lightness but names "
                   f"no classes. To get a classifier, run {next_step()}.")
        return DemoOutput({}, panels(model, rgb, temperature), status)
    label = classify(model, rgb)
    colorizer = _colorizer(model, pretext)
    if colorizer is None:
        status += (f" This classifier keeps the backbones only up to {model.feature_layer}, "
                   "so it cannot show colorizations; start the demo with `--pretext RUN` (the "
                   "pretraining run it was trained from) to show them.")
        return DemoOutput(label, [], status)
    return DemoOutput(label, panels(colorizer, rgb, temperature), status)
