"""``python -m keras_sb --stage STAGE [options]``: the training command line, the same as
``keras-sb-train`` (installed) and ``python train.py`` (a checkout); see --help."""

import sys

from keras_sb.cli import main

if __name__ == "__main__":
    sys.exit(main())
