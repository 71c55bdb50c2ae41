"""The demo's page: the Gradio Blocks around the handlers, with its one API endpoint."""

from __future__ import annotations

import hashlib
import io
import math
import os
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from keras_sb.checkpoints import check_pretext
from keras_sb.constants import DEFAULT_MAX_UPLOAD_MB
from keras_sb.demo.handlers import (
    DEFAULT_TEMPERATURE,
    EMPTY_STATUS,
    GALLERY_PANELS,
    TEMPERATURE_RANGE,
    DemoModel,
    Upload,
    analyse,
    image_size,
    model_label,
    next_step,
    read_regular_file,
    run_summary,
    scores_line,
)
from keras_sb.demo.server import MB
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.split_brain import SplitBrain
from keras_sb.safe_io import atomic_path

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "demo_examples"
TOP_K = 5
# The one answer to a /classify call naming anything but an upload or an example.
NOT_AN_UPLOAD = ("⚠️ **Could not use this file:** only images uploaded to this page, or its "
                 "examples, are read. Upload the image again.")
# Above the gallery: what its panels are, and what to expect from a small pair.
PANELS_NOTE = """**What the two networks see and predict**, left to right: the input and its
lightness L; the colours L→ab predicts from that L (shown on it); the lightness ab→L predicts
from the colours alone; both predictions together (L+ab); and the quantised colours and
lightness they learn to predict (targets). The networks predict one value per cell of a
{grid}x{grid} grid: the targets show those cells, the predictions are smoothed to the image's
size.

A small pair trained briefly, like the shipped one, gives faint colours (mostly sky blue) and
a blurry grey lightness map: both are predicted at {grid}x{grid}, and an unsure
prediction averages to grey."""
# Every hour, delete uploads and result images older than an hour (examples are kept).
CACHE_CLEANUP = (3600, 3600)


def _inside(path: str, folder: str | os.PathLike) -> bool:
    return os.path.commonpath([path, os.path.realpath(folder)]) == os.path.realpath(folder)


def cache_png(tile: np.ndarray, cache_dir: str | os.PathLike) -> str:
    """``tile`` saved as ``cache_dir/<sha256>/image.png``, written under a temporary name and
    renamed into place.

    Gradio caches an image returned as an array the same way but rewrites the file in place,
    so two requests with the same result can serve each other a half-written file.
    """
    buffer = io.BytesIO()
    Image.fromarray(tile).save(buffer, "PNG")
    path = Path(cache_dir) / hashlib.sha256(buffer.getvalue()).hexdigest() / "image.png"
    path.parent.mkdir(exist_ok=True)  # not the cache itself: it is gone once the server stops
    with atomic_path(path) as temp:
        temp.write_bytes(buffer.getvalue())
    return str(path)


def _backbones(pretrained: SplitBrain) -> str:
    return (f"`{pretrained.encoder}` backbones (width {pretrained.width}, objective "
            f"`{pretrained.task.objective}`)")


def _intro(model: DemoModel, model_name: str, pretext: SplitBrain | None = None,
           pretext_name: str = "", summary: dict | None = None) -> str:
    size = image_size(model)
    header = """# Split-brain autoencoder demo (keras-sb)
A split-brain autoencoder (Zhang, Isola & Efros, CVPR 2017) splits an image in Lab colour into
lightness **L** and colour **ab**. One network learns to predict the colours from the lightness
(**L→ab**, colorization), the other the lightness from the colours (**ab→L**), with no labels.
A classifier on the features of both networks then names the image.
"""
    if isinstance(model, SplitBrain):
        return f"""{header}
**Model** `{model_name}`: a **pretraining model** ({_backbones(model)}), trained without
labels: the page shows its colorizations but names no classes. To get a classifier, run
{next_step()}. Any image is brought to {size}x{size} as in evaluation."""
    classes = ", ".join(model.class_names)
    backbone = model.pretext_model_config["config"]
    intro = f"""{header}
**Model** `{model_name}`: `{backbone["encoder"]}` backbones (width {backbone["width"]},
objective `{model.task.objective}`),
{model.head} head on `{model.feature_layer}` features, {len(model.class_names)} classes:
{classes}. Any image is brought to {size}x{size} as in evaluation.

{scores_line(model, summary or {})}"""
    if model.has_pretext_heads:
        return intro
    if pretext is None:
        return f"""{intro}

This classifier keeps its backbones only up to `{model.feature_layer}`, so the page shows no
colorizations; start the demo with `--pretext RUN` (a pretraining run) to show them."""
    return f"""{intro}

**Colorizations** by the pretraining model `{pretext_name}`: {_backbones(pretext)} (this
classifier keeps its backbones only up to `{model.feature_layer}`)."""


def example_files(model: DemoModel) -> list[str]:
    """The shipped examples (each named after its class) the page offers for ``model``: all
    for a pretraining model, those of its classes for a classifier."""
    return [str(path) for path in sorted(EXAMPLES_DIR.iterdir())
            if isinstance(model, SplitBrain) or path.stem in model.class_names]


def build_demo(model: DemoModel, model_name: str | os.PathLike = "",
               delete_cache: tuple[int, int] = CACHE_CLEANUP, *,
               pretext: SplitBrain | None = None,
               pretext_name: str | os.PathLike = "") -> gr.Blocks:
    """The Gradio page; its one API endpoint is ``/classify`` (image file, temperature).

    ``model`` is a classifier or a pretraining model (``SplitBrain``: colorizations only, the
    class panel hidden and the class probabilities empty). ``pretext``, a pretraining model,
    draws the colorizations of a classifier without pretext heads (it must match the
    classifier, see :func:`check_pretext`).
    ``model_name`` and ``pretext_name`` are the paths the models were loaded from: the page
    names them by their run folders (see :func:`model_label`; never a server path) and shows
    the classifier's held-out top-1 when its run recorded it. The shipped examples offered
    are those of the classifier's classes (all for a pretraining model).
    Every ``delete_cache[0]`` seconds, uploads and results older than ``delete_cache[1]``
    seconds are deleted from Gradio's cache.
    """
    if isinstance(model, SplitBrain) or model.has_pretext_heads:
        pretext = None  # the model draws its own colorizations
    summary = run_summary(model_name) if model_name else {}
    model_name = model_label(model_name) if model_name else model.name
    if pretext is not None:
        pretext_name = model_label(pretext_name) if pretext_name else pretext.name
        check_pretext(model, pretext, model_name, pretext_name)
    colorizer = model if pretext is None else pretext
    draws = isinstance(colorizer, SplitBrain) or colorizer.has_pretext_heads
    examples = example_files(model)
    empty = EMPTY_STATUS if examples else "Upload an image."

    def upload(value: Any) -> Upload | None:
        """The file ``value`` names if this server received it as an upload or it is an
        example (at most the upload limit), else None.

        preprocess=False passes the request's file data unchecked: without its ``meta``,
        Gradio checks nothing, so any path could arrive here.
        """
        path = value.get("path") if isinstance(value, dict) else None
        limit = getattr(demo, "max_file_size", None) or math.ceil(DEFAULT_MAX_UPLOAD_MB * MB)
        try:
            path = os.path.abspath(path)
            real = os.path.realpath(path)
            if path in demo.upload_file_set or path in image.keep_in_cache:
                allowed = _inside(real, demo.GRADIO_CACHE)
            else:
                allowed = real in examples
            if not allowed:
                return None
            return Upload(read_regular_file(path, limit), os.path.basename(path))
        except (OSError, TypeError, ValueError):  # not a path, a NUL in it, unreadable
            return None

    def run(value: Any, temperature: float) -> tuple[dict, list[tuple[str, str]], str]:
        # preprocess=False: the upload arrives as Gradio's file data, unopened, so that a
        # damaged file reaches analyse() and is reported in the page.
        if value is None:
            return {}, [], empty
        source = upload(value)
        if source is None:
            return {}, [], NOT_AN_UPLOAD
        label, gallery, status = analyse(model, source, temperature, pretext)
        return label, [(cache_png(tile, demo.GRADIO_CACHE), caption)
                       for tile, caption in gallery], status

    with gr.Blocks(title="keras-sb split-brain demo", delete_cache=delete_cache) as demo:
        gr.Markdown(_intro(model, model_name, pretext, pretext_name, summary))
        with gr.Row():
            with gr.Column(scale=2):
                image = gr.Image(type="filepath", label="Image (any size: JPEG, PNG, BMP, GIF)",
                                 sources=["upload", "clipboard"], height=260, elem_id="image")
                temperature = gr.Slider(
                    *TEMPERATURE_RANGE, value=DEFAULT_TEMPERATURE, step=0.01,
                    label="Colorization temperature (annealed mean)",
                    info="low: the most likely colours, vivid; 1: the mean, greyer")
                status = gr.Markdown(empty, elem_id="status")
            with gr.Column(scale=3):
                label = gr.Label(num_top_classes=TOP_K, label=f"Predicted class (top {TOP_K})",
                                 elem_id="label",
                                 visible=isinstance(model, SplitBrainClassifier))
                if examples:
                    gr.Examples(examples, inputs=image, api_name="load_example",
                                examples_per_page=6)
        if draws:
            gr.Markdown(PANELS_NOTE.format(grid=colorizer.codec.target_size))
        gallery = gr.Gallery(show_label=False, columns=len(GALLERY_PANELS), height=200,
                             object_fit="contain", elem_id="gallery")
        gr.on([image.change, temperature.release], run, inputs=[image, temperature],
              outputs=[label, gallery, status], api_name="classify", preprocess=False)
    return demo
