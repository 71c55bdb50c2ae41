"""keras-sb training entry point: ``python train.py --stage STAGE [options]`` (see --help);
installed, the same command is ``keras-sb-train`` or ``python -m keras_sb``."""

import sys

import keras_sb  # noqa: F401  (imports TensorFlow quietly)
from keras_sb.cli import main

if __name__ == "__main__":
    sys.exit(main())
