"""``python -m keras_sb STAGE [options]`` (or ``--stage STAGE``): the ``keras-sb`` command."""

import sys

from keras_sb.cli import main

if __name__ == "__main__":
    sys.exit(main(spelling="python -m keras_sb"))
