"""keras-sb: split-brain autoencoders for self-supervised image features in Keras 3.

``import keras_sb`` imports TensorFlow with its start-up log lines muted and registers
keras-sb's models and layers with Keras, so that ``keras.saving.load_model`` reads keras-sb
checkpoints. The public API: the names below, ``keras_sb.models``, ``keras_sb.data`` and the
stages of ``keras_sb.training`` (see docs/python_api.md).
"""

import os
import sys

__version__ = "0.2.0"


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


_import_tensorflow_quietly()

# After TensorFlow (muted above). Importing the models registers their classes with Keras
# (about 0.02 s on top of TensorFlow's import, and no TensorFlow op runs, so the runtime's
# thread settings stay open: keras_sb.threads).
from keras_sb.data import SAMPLE_DATA  # noqa: E402
from keras_sb.models import DEFAULT_MODEL, SplitBrain, SplitBrainClassifier  # noqa: E402

__all__ = ["DEFAULT_MODEL", "SAMPLE_DATA", "SplitBrain", "SplitBrainClassifier", "__version__"]
