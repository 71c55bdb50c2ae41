#!/usr/bin/env bash
# Set up .venv and pretrain the simple split-brain pair on the shipped sample photos.
# Extra arguments go to train.py, e.g. scripts/quickstart.sh --epochs 5
source "$(dirname "$0")/setup_env.sh"
python train.py --stage pretrain --epochs 15 "$@"
