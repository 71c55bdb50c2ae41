#!/usr/bin/env bash
# Start N training workers on this machine (127.0.0.1), each `python train.py ARGS` with its
# TF_CONFIG: scripts/local_cluster.sh 2 --stage pretrain --data DIR --out runs/mw
# Ctrl-C stops every worker; exits non-zero if any worker fails (docs/distributed.md).
# Paths in ARGS are relative to the current folder, as with train.py.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec python -m keras_sb.local_cluster "$@"
