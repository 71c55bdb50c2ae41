"""keras-sb training entry point of a checkout: ``python train.py --stage STAGE [options]``
(see --help), the same as ``keras-sb STAGE [options]`` once installed."""

import sys

from keras_sb_cli import cli  # first: keras_sb then defers TensorFlow past the parsing

if __name__ == "__main__":
    sys.exit(cli.main(spelling="python train.py"))
