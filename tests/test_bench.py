"""benchmarks/bench.py --tiny --json runs and reports every figure (no timing thresholds)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("data_ips", "train_step_ips", "train_e2e_ips", "flops_per_image", "achieved_gflops",
           "matmul_peak_gflops", "serve_p50_ms", "serve_p95_ms")


def test_tiny_benchmark_reports_every_figure():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--tiny",
                             "--json"], capture_output=True, text=True, timeout=120, env=env,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert len(lines) > 1  # the human-readable lines come first
    for key in FIGURES:
        value = report[key]
        assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, key
    assert report["serve_p95_ms"] >= report["serve_p50_ms"]
    assert report["flops_per_image"] == 3 * report["forward_flops_per_image"]
    assert {"tensorflow", "keras", "numpy", "python"} <= report["versions"].keys()
    assert report["device"]
    assert (report["encoder"], report["width"], report["batch_size"],
            report["mixed_precision"]) == ("simple", 0.25, 8, False)
