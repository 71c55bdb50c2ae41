"""Web demo of a split-brain classifier or pretraining model, from a checkout.

``python app.py [--model PATH] [--pretext PATH] [--host H] [--port P] [--max-upload-mb N]
[--cache-quota-mb N] [--uploads-per-minute N] [--requests-per-minute N] [--trusted-proxy
ADDRESS]``: the same as ``keras-sb demo [options]`` once
installed; its options live in ``keras_sb/app_cli.py``, the page, its handlers and the server
settings in ``keras_sb/demo/`` (see docs/demo.md).
"""

import sys
from collections.abc import Sequence

from keras_sb_cli import cli  # first: keras_sb then defers TensorFlow past the parsing


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the command's arguments) and serve the demo."""
    return cli.main(["demo", *(sys.argv[1:] if argv is None else argv)],
                    spelling="python train.py")


if __name__ == "__main__":
    sys.exit(main())
