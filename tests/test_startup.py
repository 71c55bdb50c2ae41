"""benchmarks/startup.py: its images are reused, and it reports every figure (no timing
thresholds: the figures are in docs/speed.md)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "startup.py"
TIMES = ("import_s", "open_images_s", "hold_out_s", "open_s", "first_batch_s",
         "to_first_batch_s")


def _startup():
    spec = importlib.util.spec_from_file_location("startup", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_images_are_reused(tmp_path):
    startup = _startup()
    folder = startup.make_images(tmp_path / "images", 5)
    assert sorted(os.listdir(folder)) == [f"img{index:06d}.jpg" for index in range(5)]
    written = {path: path.stat().st_mtime_ns for path in folder.iterdir()}
    (folder / "img000003.jpg").unlink()
    startup.make_images(folder, 5)
    rewritten = [path.name for path in folder.iterdir() if path.stat().st_mtime_ns
                 != written.get(path)]
    assert rewritten == ["img000003.jpg"] and len(os.listdir(folder)) == 5


@pytest.mark.slow
def test_startup_benchmark_reports_every_figure(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(SCRIPT), "--files", "40", "--dir",
                             str(tmp_path), "--batch-size", "8", "--json"],
                            capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert lines[0].startswith("files") and len(lines) == 4  # header, two rows, JSON
    assert [(row["way"], row["files"]) for row in report["rows"]] == [("listed", 40),
                                                                        ("decoded", 40)]
    for row in report["rows"]:
        assert all(row[key] >= 0 for key in TIMES) and row["to_first_batch_s"] > 0, row
        assert row["peak_rss_mb"] >= row["import_rss_mb"] > 0 and row["mean_file_kb"] > 0
    assert report["batch_size"] == 8 and report["tensorflow"]
    assert len(os.listdir(tmp_path / "40")) == 40  # kept in --dir
