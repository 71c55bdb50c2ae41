"""keras-sb: split-brain autoencoders for self-supervised image features in Keras 3."""

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
