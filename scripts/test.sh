#!/usr/bin/env bash
# Set up .venv and run the test suite. Extra arguments go to pytest, e.g. -m "not slow".
source "$(dirname "$0")/setup_env.sh"
python -m pytest -q "$@"
