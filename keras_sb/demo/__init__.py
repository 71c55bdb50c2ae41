"""The web demo: classify an image and show what both halves of the split-brain pair predict.

The page shows a classifier (``SplitBrainClassifier``) or a pretraining model (``SplitBrain``,
colorizations only). A classifier on an intermediate stage (e.g. ``conv3``) keeps no pretext
heads; a pretraining model given as ``pretext`` then draws the colorizations.

- :mod:`~keras_sb.demo.handlers`: plain functions of a file path or PIL image
  (:func:`load_model`, :func:`load_pretext`, :func:`read_image`, :func:`analyse`, and
  :func:`model_label`, :func:`run_summary` for how the page names a run and its scores);
- :mod:`~keras_sb.demo.page`: :func:`build_demo`, the Gradio page around them;
- :mod:`~keras_sb.demo.server`: :func:`serve` with per-client upload and request limits
  (forwarded-for headers trusted only from the proxies it names) and security headers;
  :func:`private_cache` and :func:`interrupt_on_stop_signals` make sure its cache goes when the
  server stops (see docs/demo.md).
"""

from keras_sb.checkpoints import check_pretext, choose_pretext, load_pretext
from keras_sb.constants import DEFAULT_PRETEXT
from keras_sb.demo.handlers import (
    DEFAULT_TEMPERATURE,
    EMPTY_STATUS,
    GALLERY_PANELS,
    PANEL_SIDE,
    TEMPERATURE_RANGE,
    DemoModel,
    DemoOutput,
    ImageError,
    ImageSource,
    Upload,
    analyse,
    classify,
    load_classifier,
    load_model,
    model_label,
    panel_captions,
    panels,
    read_image,
    read_regular_file,
    run_summary,
    scores_line,
)
from keras_sb.demo.page import (
    CACHE_CLEANUP,
    EXAMPLES_DIR,
    NOT_AN_UPLOAD,
    TOP_K,
    build_demo,
    cache_png,
    example_files,
)
from keras_sb.demo.server import (
    CACHE_PREFIX,
    MB,
    MULTIPART_OVERHEAD,
    SECURITY_HEADERS,
    CallLimits,
    ClientRate,
    SecurityHeaders,
    StartError,
    UploadLimits,
    cache_usage,
    check_port,
    interrupt_on_stop_signals,
    private_cache,
    serve,
)

__all__ = [
    "CACHE_CLEANUP", "CACHE_PREFIX", "DEFAULT_PRETEXT", "DEFAULT_TEMPERATURE", "EMPTY_STATUS",
    "EXAMPLES_DIR", "GALLERY_PANELS", "MB", "MULTIPART_OVERHEAD", "NOT_AN_UPLOAD", "PANEL_SIDE",
    "SECURITY_HEADERS", "TEMPERATURE_RANGE", "TOP_K", "CallLimits", "ClientRate", "DemoModel",
    "DemoOutput", "ImageError", "ImageSource", "SecurityHeaders", "StartError", "Upload",
    "UploadLimits", "analyse", "build_demo", "cache_png", "cache_usage", "check_port",
    "check_pretext", "choose_pretext", "classify", "example_files",
    "interrupt_on_stop_signals", "load_classifier", "load_model", "load_pretext",
    "model_label", "panel_captions", "panels", "private_cache", "read_image",
    "read_regular_file", "run_summary", "scores_line", "serve",
]
