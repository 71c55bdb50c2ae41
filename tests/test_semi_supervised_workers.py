"""Fine-tuning with unlabelled photos on two workers (MultiWorkerMirroredStrategy under
TF_CONFIG, processes on 127.0.0.1): each worker trains on its share of the unlabelled photos,
and the chief alone writes the run (resuming from the chief's state, the pretext model's
layers included, is the same code as without unlabelled photos: test_multi_worker.py)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def local_cluster(out: Path, epochs: int, tmp: Path) -> str:
    command = [sys.executable, "-m", "keras_sb.local_cluster", "2", "finetune", "--init",
               "random", "--width", "0.25", "--image-size", "64", "--l-bins", "10",
               "--ab-bins", "grid:4", "--feature-layer", "conv2", "--labels-per-class", "2",
               "--batch-size", "4", "--epochs", str(epochs), "--pretext-weight", "0.5",
               "--pseudo-label-threshold", "0.3", "--no-progress", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env={**os.environ, **ONE_THREAD, "TMPDIR": str(tmp),
                                 "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_two_workers_fine_tune_with_unlabelled_photos(tmp_path):
    out = tmp_path / "run"
    text = local_cluster(out, 2, tmp_path)
    for worker in (0, 1):
        assert f"[worker {worker}] Also training on 299 images" in text
    assert "2 worker(s), 2 device(s), global batch 8" in text
    with (out / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert all(float(row["pretext_loss"]) > 0 and row["pseudo_labelled"] for row in rows)
    assert (out / "best.keras").exists() and (out / "summary.json").exists()
    assert not list(tmp_path.glob("keras-sb-worker-*"))  # the other worker's folder is gone
