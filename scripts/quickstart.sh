#!/usr/bin/env bash
# Set up .venv (keras-sb installed in it) and pretrain the simple split-brain pair on the
# shipped sample photos, then say how to use the keras-sb command in your shell.
# Extra arguments go to `keras-sb pretrain`, e.g. scripts/quickstart.sh --epochs 5
caller=$PWD
source "$(dirname "$0")/setup_env.sh"  # now in the checkout's folder, .venv/bin on PATH
keras-sb pretrain --epochs 15 "$@"
run=runs/pretrain-simple  # the run folder, unless the arguments chose another
case " $* " in *" --out"* | *" --encoder"*) run="RUN  # RUN: the run folder of the Next: line" ;; esac
echo
echo "keras-sb is installed in .venv. To use it in your shell:"
[ "$caller" = "$PWD" ] || printf '  cd %q\n' "$PWD"
echo "  source .venv/bin/activate"
echo "then, for example, a linear probe of the pair on the shipped labelled photos:"
echo "  keras-sb linprobe --init $run"
