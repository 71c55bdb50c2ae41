"""The entry points of the keras-sb commands: ``keras-sb``, ``keras-sb-train`` and
``keras-sb-demo`` (console scripts), and a checkout's ``train.py`` and ``app.py``.

A module beside the ``keras_sb`` package, not in it, because importing the package imports
TensorFlow (several seconds): importing it from here defers that (``keras_sb.DEFER_VARIABLE``)
until the arguments are parsed, so ``--help`` and argument errors answer at once.
"""

import os
import sys

os.environ["KERAS_SB_DEFER_TENSORFLOW"] = "1"  # keras_sb.DEFER_VARIABLE
try:
    from keras_sb import cli
finally:
    del os.environ["KERAS_SB_DEFER_TENSORFLOW"]  # for this import only: not for subprocesses


def main() -> int:
    """``keras-sb STAGE [options]``."""
    return cli.main(spelling="keras-sb")


def train() -> int:
    """``keras-sb-train [--stage STAGE] [options]`` (``python train.py``)."""
    return cli.main(spelling="keras-sb-train")


def demo() -> int:
    """``keras-sb-demo [options]`` (``python app.py``)."""
    return cli.main(["demo", *sys.argv[1:]], spelling="keras-sb-train")
