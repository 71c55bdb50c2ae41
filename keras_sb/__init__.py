"""keras-sb: split-brain autoencoders for self-supervised image features in Keras 3.

``import keras_sb`` imports TensorFlow with its start-up log lines muted (unless
``TF_CPP_MIN_LOG_LEVEL`` is 0), hides TensorFlow's retracing warning about Keras' per-model
functions (:data:`KERAS_RETRACING_FILTER`) and registers keras-sb's models and layers with
Keras, so that ``keras.saving.load_model`` reads keras-sb checkpoints. The public API: the
names below, ``keras_sb.models``, ``keras_sb.data`` and the stages of ``keras_sb.training``
(see docs/python_api.md).

The command line defers that import until it has parsed its arguments, then calls
:func:`load`: when ``keras_sb_cli`` (the ``keras-sb`` command, ``train.py``) imports the
package (:data:`DEFER_VARIABLE`), or ``python -m`` runs one of :data:`COMMAND_MODULES`.
"""

import logging
import os
import sys

from keras_sb.constants import DEFAULT_MODEL, SAMPLE_DATA

__version__ = "0.3.0"

# Set to "1" by keras_sb_cli while it imports the package.
DEFER_VARIABLE = "KERAS_SB_DEFER_TENSORFLOW"
# The command lines that ``python -m`` runs, which load TensorFlow themselves once parsed.
COMMAND_MODULES = ("keras_sb", "keras_sb.app_cli", "keras_sb.local_cluster")


class KerasRetracingFilter(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls to <function TensorFlowTrainer...>
    triggered tf.function retracing" warning, and only that one.

    Keras makes new step functions for every model it fits, evaluates or predicts with, so a
    process that uses several models (the classifier command, the stages run from Python,
    short runs above all) traces the same code once per model, which TensorFlow's heuristic
    takes for a function retraced in a loop. Warnings about other functions still show.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message
                    and "TensorFlowTrainer." in message)


# Added to the "tensorflow" logger by load(); removeFilter(KERAS_RETRACING_FILTER) undoes it.
KERAS_RETRACING_FILTER = KerasRetracingFilter()


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its native start-up log lines (oneDNN, CUDA probing) muted,
    unless ``TF_CPP_MIN_LOG_LEVEL`` is 0; it is 2 (C++ warnings and info lines off) unless
    set.

    Those lines are written by C++ straight to file descriptor 2 before TensorFlow reads that
    variable, so neither it nor Python-level filters can stop them; Python exceptions still
    propagate normally.
    """
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2") == "0":
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved_fd = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # probes CUDA now, while muted
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        os.close(devnull)


def load() -> None:
    """Import TensorFlow quietly and register keras-sb's classes with Keras (importing the
    models: about 0.02 s on top of TensorFlow, and no TensorFlow op runs, so the runtime's
    thread settings stay open: keras_sb.threads). Does nothing the second time."""
    if "keras_sb.models" not in sys.modules:
        _import_tensorflow_quietly()
        logging.getLogger("tensorflow").addFilter(KERAS_RETRACING_FILTER)
        import keras_sb.models  # noqa: F401


def __getattr__(name: str):
    if name in ("SplitBrain", "SplitBrainClassifier"):
        load()
        from keras_sb import models

        return getattr(models, name)
    raise AttributeError(f"module 'keras_sb' has no attribute {name!r}")


def _starting_a_command() -> bool:
    """Whether ``python -m`` is starting a module of :data:`COMMAND_MODULES` (Python imports
    the package while it locates the module, with ``sys.argv[0]`` set to "-m")."""
    argv = getattr(sys, "orig_argv", [])
    return (getattr(sys, "argv", [])[:1] == ["-m"] and "-m" in argv[:-1]
            and argv[argv.index("-m") + 1] in COMMAND_MODULES)


if os.environ.get(DEFER_VARIABLE) != "1" and not _starting_a_command():
    load()

__all__ = ["DEFAULT_MODEL", "KERAS_RETRACING_FILTER", "SAMPLE_DATA", "SplitBrain",
           "SplitBrainClassifier", "__version__", "load"]
