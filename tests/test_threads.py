"""share_cores_between_halves: half the cores per op on CPU hosts, unless the user chose or
TensorFlow has already started."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keras_sb.threads import available_cores

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, sys
import keras_sb
import tensorflow as tf
from keras_sb.threads import intra_op_threads, share_cores_between_halves
if sys.argv[1] == "started":
    tf.constant(1.0) + 1.0  # the runtime starts with TensorFlow's default threads
print(json.dumps([share_cores_between_halves(), intra_op_threads()]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("case", ["fresh", "user", "started"])
def test_half_the_cores_per_op_unless_the_user_chose_or_tensorflow_started(case):
    env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
    if case == "user":
        env["TF_NUM_INTRAOP_THREADS"] = "1"
    result = subprocess.run([sys.executable, "-c", PROBE, case], capture_output=True,
                            text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)},
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    returned, in_force = json.loads(result.stdout.strip().splitlines()[-1])
    half = max(1, available_cores() // 2)
    expected = {"fresh": (half, half), "user": (None, 1), "started": (None, 0)}[case]
    assert (returned, in_force) == expected
