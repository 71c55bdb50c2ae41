"""The web demo: classify an image and show what both halves of the split-brain pair predict.

The page shows a classifier (``SplitBrainClassifier``) or a pretraining model (``SplitBrain``,
colorizations only). A classifier on an intermediate stage (e.g. ``conv3``) keeps no pretext
heads; a pretraining model given as ``pretext`` then draws the colorizations.

The handlers (:func:`load_model`, :func:`load_pretext`, :func:`read_image`, :func:`analyse`)
are plain functions of a file path or PIL image; :func:`build_demo` wraps them in a Gradio page
and :func:`serve` serves it with upload limits and security headers; :func:`private_cache` and
:func:`interrupt_on_stop_signals` make sure its cache goes when the server stops (see docs/demo.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import math
import os
import re
import shutil
import signal
import stat
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import gradio as gr
import keras
import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keras_sb.checkpoints import CheckpointError, checkpoint_path, load_checkpoint
from keras_sb.commands import command
from keras_sb.constants import (
    DEFAULT_CACHE_QUOTA_MB,
    DEFAULT_HOST,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_UPLOADS_PER_MINUTE,
)
from keras_sb.data.decode import as_float, center_crop, decode_image
from keras_sb.models import DEFAULT_MODEL
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.split_brain import SplitBrain
from keras_sb.safe_io import atomic_path
from keras_sb.visualize import PANELS, reconstructions

EXAMPLES_DIR = Path(__file__).resolve().parent / "demo_examples"
# The pretraining model that draws the colorizations of the shipped classifier (DEFAULT_MODEL)
# when that has no pretext heads; used only if the file exists.
DEFAULT_PRETEXT = str(Path(DEFAULT_MODEL).with_name("pretext.keras"))
DEFAULT_TEMPERATURE = 0.38
TEMPERATURE_RANGE = (0.05, 1.0)
TOP_K = 5
PANEL_SIDE = 192  # gallery tiles are upscaled (nearest) so the 12x12 targets stay visible
# Gallery order: what goes in, the two predictions, both together, then the 12x12 targets.
GALLERY_PANELS = ("input", "lightness_input", "predicted_color", "predicted_lightness",
                  "recombined", "target_color", "target_lightness")
MODE_NAMES = {"1": "black-and-white", "L": "greyscale", "LA": "greyscale + alpha",
              "I": "32-bit greyscale", "I;16": "16-bit greyscale", "P": "palette",
              "PA": "palette + alpha", "RGBA": "RGBA (alpha dropped)", "CMYK": "CMYK",
              "YCbCr": "YCbCr"}
EMPTY_STATUS = "Upload an image or pick one of the examples."
# The one answer to a /classify call naming anything but an upload or an example.
NOT_AN_UPLOAD = ("⚠️ **Could not use this file:** only images uploaded to this page, or its "
                 "examples, are read. Upload the image again.")
MB = 1024 * 1024  # Gradio's "mb"
UPLOAD_ROUTE = "/gradio_api/upload"
MULTIPART_OVERHEAD = 64 * 1024  # room for the form's headers around one file of the upload limit
CACHE_PREFIX = "keras-sb-demo-"
# Every hour, delete uploads and result images older than an hour (examples are kept).
CACHE_CLEANUP = (3600, 3600)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "frame-ancestors 'self'",  # restricts framing only
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


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


def load_pretext(path: str | os.PathLike, flag: str = "--pretext") -> SplitBrain:
    """The pretraining model (``SplitBrain``) of a .keras file or a pretraining run folder."""
    return load_checkpoint(path, SplitBrain, flag)


def choose_pretext(model_path: str | os.PathLike,
                   pretext_path: str | os.PathLike | None = None) -> str | None:
    """The pretraining checkpoint to draw colorizations with: ``pretext_path`` when given,
    else ``DEFAULT_PRETEXT`` when ``model_path`` is the shipped classifier and that file
    exists, else None."""
    if pretext_path is not None:
        return str(pretext_path)
    shipped = Path(model_path).expanduser().resolve() == Path(DEFAULT_MODEL).resolve()
    return DEFAULT_PRETEXT if shipped and Path(DEFAULT_PRETEXT).is_file() else None


def _image_size(model: DemoModel) -> int:
    return model.input_shape[1]


def check_pretext(model: SplitBrainClassifier, pretext: SplitBrain,
                  model_path: str | os.PathLike, pretext_path: str | os.PathLike) -> None:
    """Raise a ``CheckpointError`` naming both files unless ``pretext`` takes images of the
    classifier's size in its colour space."""
    ours = (_image_size(model), model.codec.color_space)
    theirs = (_image_size(pretext), pretext.codec.color_space)
    if ours != theirs:
        raise CheckpointError(
            f"--pretext {pretext_path} does not match --model {model_path}: the pretraining "
            f"model takes {theirs[0]}x{theirs[0]} images in colour space {theirs[1]}, the "
            f"classifier {ours[0]}x{ours[0]} images in {ours[1]}; give the pretraining run the "
            "classifier was trained from (its --init)")


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
        return path.read_bytes(), path.name
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


def panels(model: DemoModel, rgb: np.ndarray,
           temperature: float) -> list[tuple[np.ndarray, str]]:
    """Captioned uint8 panels (those of ``GALLERY_PANELS`` the model's objective has),
    upscaled to ``PANEL_SIDE`` pixels; ``model`` is a pretraining model or a classifier with
    pretext heads."""
    images = reconstructions(model, rgb[None], temperature)
    items = []
    for name in (name for name in GALLERY_PANELS if name in images):
        tile = Image.fromarray(images[name][0]).resize((PANEL_SIDE, PANEL_SIDE), Image.NEAREST)
        items.append((np.asarray(tile), PANELS[name]))
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
    size = _image_size(model)
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


def read_regular_file(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else an
    ``OSError``; opened without following a symlink or waiting (a FIFO, a device)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    with open(os.open(path, flags), "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            raise OSError(f"{path} is not a regular file of at most {limit} bytes")
        contents = file.read(limit + 1)
    if len(contents) > limit:  # grew since fstat
        raise OSError(f"{path} is larger than {limit} bytes")
    return contents


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
           pretext_name: str = "") -> str:
    size = _image_size(model)
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
    backbone = model.backbone_config["config"]
    intro = f"""{header}
**Model** `{model_name}`: `{backbone["encoder"]}` backbones (width {backbone["width"]},
objective `{model.task.objective}`),
{model.head} head on `{model.feature_layer}` features, {len(model.class_names)} classes:
{classes}. Any image is brought to {size}x{size} as in evaluation."""
    if model.has_pretext_heads:
        return intro
    if pretext is None:
        return f"""{intro}

This classifier keeps its backbones only up to `{model.feature_layer}`, so the page shows no
colorizations; start the demo with `--pretext RUN` (a pretraining run) to show them."""
    return f"""{intro}

**Colorizations** by the pretraining model `{pretext_name}`: {_backbones(pretext)} (this
classifier keeps its backbones only up to `{model.feature_layer}`)."""


def build_demo(model: DemoModel, model_name: str | os.PathLike = "",
               delete_cache: tuple[int, int] = CACHE_CLEANUP, *,
               pretext: SplitBrain | None = None,
               pretext_name: str | os.PathLike = "") -> gr.Blocks:
    """The Gradio page; its one API endpoint is ``/classify`` (image file, temperature).

    ``model`` is a classifier or a pretraining model (``SplitBrain``: colorizations only, the
    class panel hidden and the class probabilities empty). ``pretext``, a pretraining model,
    draws the colorizations of a classifier without pretext heads (it must match the
    classifier, see :func:`check_pretext`).
    The page names the models by the last part of ``model_name`` and ``pretext_name`` only
    (never a server path).
    Every ``delete_cache[0]`` seconds, uploads and results older than ``delete_cache[1]``
    seconds are deleted from Gradio's cache.
    """
    if isinstance(model, SplitBrain) or model.has_pretext_heads:
        pretext = None  # the model draws its own colorizations
    model_name = Path(model_name).name or model.name
    if pretext is not None:
        pretext_name = Path(pretext_name).name or pretext.name
        check_pretext(model, pretext, model_name, pretext_name)

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
                allowed = os.path.dirname(real) == str(EXAMPLES_DIR)
            if not allowed:
                return None
            return Upload(read_regular_file(path, limit), os.path.basename(path))
        except (OSError, TypeError, ValueError):  # not a path, a NUL in it, unreadable
            return None

    def run(value: Any, temperature: float) -> tuple[dict, list[tuple[str, str]], str]:
        # preprocess=False: the upload arrives as Gradio's file data, unopened, so that a
        # damaged file reaches analyse() and is reported in the page.
        source = None if value is None else upload(value)
        if value is not None and source is None:
            return {}, [], NOT_AN_UPLOAD
        label, gallery, status = analyse(model, source, temperature, pretext)
        return label, [(cache_png(tile, demo.GRADIO_CACHE), caption)
                       for tile, caption in gallery], status

    with gr.Blocks(title="keras-sb split-brain demo", delete_cache=delete_cache) as demo:
        gr.Markdown(_intro(model, model_name, pretext, pretext_name))
        with gr.Row():
            with gr.Column(scale=2):
                image = gr.Image(type="filepath", label="Image (any size: JPEG, PNG, BMP, GIF)",
                                 sources=["upload", "clipboard"], height=260, elem_id="image")
                temperature = gr.Slider(
                    *TEMPERATURE_RANGE, value=DEFAULT_TEMPERATURE, step=0.01,
                    label="Colorization temperature (annealed mean)",
                    info="low: the most likely colours, vivid; 1: the mean, greyer")
                status = gr.Markdown(EMPTY_STATUS, elem_id="status")
            with gr.Column(scale=3):
                label = gr.Label(num_top_classes=TOP_K, label=f"Predicted class (top {TOP_K})",
                                 elem_id="label",
                                 visible=isinstance(model, SplitBrainClassifier))
                gr.Examples(sorted(str(p) for p in EXAMPLES_DIR.iterdir()), inputs=image,
                            api_name="load_example", examples_per_page=6)
        gr.Markdown("**What the two networks see and predict.** The 12x12 targets are the "
                    "quantised colours and lightness they learn to predict.")
        gallery = gr.Gallery(show_label=False, columns=len(GALLERY_PANELS), height=200,
                             object_fit="contain", elem_id="gallery")
        gr.on([image.change, temperature.release], run, inputs=[image, temperature],
              outputs=[label, gallery, status], api_name="classify", preprocess=False)
    return demo


class SecurityHeaders:
    """ASGI middleware that adds ``SECURITY_HEADERS`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def cache_usage(demo: gr.Blocks) -> int:
    """Bytes in the files Gradio keeps for ``demo``: uploads, examples and results."""
    total = 0
    for path in set().union(*demo.temp_file_sets):
        with contextlib.suppress(OSError):  # deleted meanwhile
            total += os.stat(path).st_size
    return total


class UploadLimits:
    """ASGI middleware that refuses an upload (``POST .../gradio_api/upload``) when its client
    has sent ``per_minute`` of them in the last minute (429), when it does not state its size
    (411) or states more than ``max_bytes`` (413), or when ``usage()`` plus the uploads in
    progress and this one would exceed ``quota`` bytes (507).

    A client is an IP address (an IPv6 /64 network): behind a reverse proxy, all clients
    share the proxy's address.
    """

    def __init__(self, app: ASGIApp, *, quota: int, per_minute: int, max_bytes: int,
                 usage: Callable[[], int]) -> None:
        self.app, self.quota, self.per_minute = app, quota, per_minute
        self.max_bytes, self.usage = max_bytes, usage
        self.recent: dict[str, deque[float]] = {}  # client -> its upload times, last minute
        self.in_progress = 0  # declared bytes of the uploads being received

    @staticmethod
    def client(scope: Scope) -> str:
        host = (scope.get("client") or ("",))[0]
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host
        return str(ipaddress.ip_network(f"{address}/64", strict=False)
                   if address.version == 6 else address)

    def admit(self, client: str) -> float:
        """0 and the upload counted if ``client`` may upload now, else seconds to wait."""
        now = time.monotonic()
        if len(self.recent) > 10_000:  # forget clients quiet for a minute
            self.recent = {key: times for key, times in self.recent.items()
                           if times and times[-1] > now - 60}
        times = self.recent.setdefault(client, deque())
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= self.per_minute:
            return times[0] + 60 - now
        times.append(now)
        return 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or not scope["path"].endswith(UPLOAD_ROUTE)):
            await self.app(scope, receive, send)
            return
        size, refusal = await self.check(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        self.in_progress += size  # no await since the quota check
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= size

    async def check(self, scope: Scope) -> tuple[int, PlainTextResponse | None]:
        """The upload's declared size and the answer refusing it (None if admitted)."""
        wait = self.admit(self.client(scope))
        if wait:
            return 0, PlainTextResponse(
                f"Too many uploads: at most {self.per_minute} a minute from one client; try "
                f"again in {math.ceil(wait)} s.", 429, {"Retry-After": str(math.ceil(wait))})
        length = dict(scope["headers"]).get(b"content-length", b"")
        if not length.isdigit():
            return 0, PlainTextResponse("Uploads must state their size (Content-Length).", 411)
        size = int(length)
        if size > self.max_bytes:
            return 0, PlainTextResponse(f"Upload too large: at most {self.max_bytes} bytes in "
                                        "one request.", 413)
        used = await anyio.to_thread.run_sync(self.usage)
        if used + self.in_progress + size > self.quota:
            return 0, PlainTextResponse(
                f"The upload cache is full ({self.quota / MB:g} MB); try again later.", 507,
                {"Retry-After": "600"})
        return size, None


def serve(demo: gr.Blocks, host: str = DEFAULT_HOST, port: int | None = None,
          max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
          cache_quota_mb: float = DEFAULT_CACHE_QUOTA_MB,
          uploads_per_minute: int = DEFAULT_UPLOADS_PER_MINUTE, **launch_kwargs: Any) -> None:
    """``demo.launch`` on ``host``:``port`` with uploads up to ``max_upload_mb`` (MiB), at
    most ``uploads_per_minute`` from one client, Gradio's cache files for ``demo`` within
    ``cache_quota_mb`` (MiB) (see :class:`UploadLimits`), and ``SECURITY_HEADERS`` on every
    response.

    Server-side rendering stays off: with it, Gradio puts a Node proxy, which this
    middleware does not reach, in front of the Python server.
    """
    max_file_size = math.ceil(max_upload_mb * MB)
    limits = Middleware(UploadLimits, quota=math.ceil(cache_quota_mb * MB),
                        per_minute=uploads_per_minute,
                        max_bytes=max_file_size + MULTIPART_OVERHEAD,
                        usage=lambda: cache_usage(demo))
    demo.launch(server_name=host, server_port=port, max_file_size=max_file_size,
                app_kwargs={"middleware": [Middleware(SecurityHeaders), limits]},
                ssr_mode=False, **launch_kwargs)


@contextlib.contextmanager
def private_cache() -> Iterator[Path]:
    """A new folder (mode 0700) for Gradio's cache inside ``GRADIO_TEMP_DIR`` (default: the
    system's temporary folder), made ``GRADIO_TEMP_DIR`` while inside and deleted, with all
    it holds, on the way out.

    Enter it before :func:`build_demo`, which copies the examples into the cache.
    """
    parent = os.environ.get("GRADIO_TEMP_DIR")
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=CACHE_PREFIX, dir=parent))
    os.environ["GRADIO_TEMP_DIR"] = str(path)
    try:
        yield path
    finally:
        if parent:
            os.environ["GRADIO_TEMP_DIR"] = parent
        else:
            del os.environ["GRADIO_TEMP_DIR"]
        shutil.rmtree(path, ignore_errors=True)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interrupt_on_stop_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise ``KeyboardInterrupt`` while inside: the server then stops
    (``launch`` returns) and the enclosing ``with`` blocks clean up. SIGINT too, because a
    process started in the background by a shell (``app.py &``) inherits it ignored."""
    previous = {signum: signal.signal(signum, signal.default_int_handler)
                for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
