#!/usr/bin/env bash
# Set up .venv (scripts/setup_env.sh) and Debian's chromium where possible
# (scripts/chromium.sh, which says before the run if the browser tests will be skipped), then
# run the test suite; the skipped tests and why are listed at the end. Extra arguments go to
# pytest, e.g. -m "not slow". Ctrl-C stops the processes the tests started too
# (tests/conftest.py).
source "$(dirname "$0")/setup_env.sh"
bash scripts/chromium.sh || true
python -c 'import importlib.util, sys; sys.exit(not importlib.util.find_spec("tensorflow_io"))' ||
  echo "tests/test_color.py's comparisons with tensorflow-io will be SKIPPED: it has no wheel" \
    "for Python $(python -c 'import platform; print(platform.python_version())')." >&2
python -m pytest -q "$@"
