"""keras-sb: split-brain autoencoders for self-supervised image features in Keras 3.

``import keras_sb`` imports TensorFlow with its start-up log lines muted and registers
keras-sb's models and layers with Keras, so that ``keras.saving.load_model`` reads keras-sb
checkpoints. The public API: the names below, ``keras_sb.models``, ``keras_sb.data`` and the
stages of ``keras_sb.training`` (see docs/python_api.md).

The command line defers that import until it has parsed its arguments, then calls
:func:`load`: when ``keras_sb_cli`` (the ``keras-sb`` command, ``train.py``) imports the
package (:data:`DEFER_VARIABLE`), or ``python -m`` runs one of :data:`COMMAND_MODULES`.
"""

import os
import sys

from keras_sb.constants import DEFAULT_MODEL, SAMPLE_DATA

__version__ = "0.3.0"

# Set to "1" by keras_sb_cli while it imports the package.
DEFER_VARIABLE = "KERAS_SB_DEFER_TENSORFLOW"
# The command lines that ``python -m`` runs, which load TensorFlow themselves once parsed.
COMMAND_MODULES = ("keras_sb", "keras_sb.app_cli", "keras_sb.local_cluster")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its native start-up log lines (oneDNN, CUDA probing) muted.

    Those lines are written by C++ straight to file descriptor 2, so Python-level filters
    cannot stop them; Python exceptions still propagate normally.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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

__all__ = ["DEFAULT_MODEL", "SAMPLE_DATA", "SplitBrain", "SplitBrainClassifier", "__version__",
           "load"]
