"""Web demo of a split-brain classifier or pretraining model.

``python app.py [--model PATH] [--pretext PATH] [--host H] [--port P] [--max-upload-mb N]
[--cache-quota-mb N] [--uploads-per-minute N]`` (installed: ``keras-sb-demo``); the command
line lives in ``keras_sb/app_cli.py``, the page, its handlers and the server settings in
``keras_sb/demo.py`` (see docs/demo.md).
"""

import sys

import keras_sb  # noqa: F401  (imports TensorFlow quietly)
from keras_sb.app_cli import build_parser, main, megabytes

__all__ = ["build_parser", "main", "megabytes"]

if __name__ == "__main__":
    sys.exit(main())
