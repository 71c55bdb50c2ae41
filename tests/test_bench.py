"""benchmarks/bench.py --tiny --json runs and reports every figure (no timing thresholds)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from keras_sb.threads import available_cores

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("data_ips", "train_step_ips", "train_e2e_ips", "flops_per_image", "achieved_gflops",
           "matmul_peak_gflops", "serve_p50_ms", "serve_p95_ms")


@pytest.mark.slow
@pytest.mark.parametrize("mixed_precision", [False, True])
def test_tiny_benchmark_reports_every_figure(mixed_precision):
    env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
    env.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    flags = ["--mixed-precision"] if mixed_precision else []
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--tiny",
                             "--json", *flags], capture_output=True, text=True, timeout=180,
                            env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert len(lines) > 1  # the human-readable lines come first
    half = "float16" if tf.config.list_physical_devices("GPU") else "bfloat16"  # GPUs / CPUs
    assert report["policy"] == (f"mixed_{half}" if mixed_precision else "float32")
    figures = FIGURES + ((f"matmul_peak_gflops_{half}",) if mixed_precision else ())
    for key in figures:
        value = report[key]
        assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, key
    assert report["serve_p95_ms"] >= report["serve_p50_ms"]
    assert report["flops_per_image"] == 3 * report["forward_flops_per_image"]
    assert {"tensorflow", "keras", "numpy", "python"} <= report["versions"].keys()
    assert report["device"]
    assert report["intra_op_threads"] == max(1, available_cores() // 2)  # a CPU, no user setting
    assert (report["encoder"], report["width"], report["batch_size"], report["repeats"],
            report["mixed_precision"]) == ("simple", 0.25, 8, 1, mixed_precision)


@pytest.mark.slow
def test_op_micro_benchmarks_run():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ops.py"),
                             "--batch-size", "2", "--repeats", "1"], capture_output=True,
                            text=True, timeout=120, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    timings = [line for line in result.stdout.splitlines() if line.endswith(" ms")]
    assert len(timings) == 12 and all(float(line.split()[-2]) > 0 for line in timings)
