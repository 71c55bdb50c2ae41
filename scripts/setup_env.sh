# Sourced by the other scripts: create .venv (once), install requirements.txt into it and the
# checkout itself, editable (`pip install -e .`: the commands keras-sb, keras-sb-train and
# keras-sb-demo run this folder's code); again when requirements.txt or pyproject.toml change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ] ||
  [ pyproject.toml -nt .venv/.installed ] || [ ! -x .venv/bin/keras-sb ]; then
  # setuptools builds the editable install in .venv (pyproject.toml's build-system).
  .venv/bin/python -m pip install --quiet --upgrade pip setuptools
  .venv/bin/python -m pip install --quiet -r requirements.txt
  # requirements.txt already holds the dependencies, the [test] extra's included.
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  touch .venv/.installed
fi
export PATH="$PWD/.venv/bin:$PATH"
