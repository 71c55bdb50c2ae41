"""Web demo of a split-brain classifier: ``python app.py [--model PATH] [--host H] [--port P]``.

The page and its handlers live in ``keras_sb/demo.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import keras_sb  # noqa: F401  (imports TensorFlow quietly)
from keras_sb.demo import build_demo, load_classifier
from keras_sb.models import DEFAULT_MODEL
from keras_sb.training.run_folder import RunFolderError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py", description="keras-sb web demo: classify an image and show the "
        "split-brain colorization and lightness predictions.")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="classifier .keras file or run folder from --stage finetune "
                        "(default: the shipped model, %(default)s)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on; 0.0.0.0 for every interface "
                        "(default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Load the model and serve the page until interrupted; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        model = load_classifier(args.model)
    except RunFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    build_demo(model, args.model).launch(server_name=args.host, server_port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
