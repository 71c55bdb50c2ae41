"""Exit codes and one-line messages of the commands: an output folder that cannot be written
is an argument error (2), a diverged run names its likely cause (1), SIGTERM ends a run with
143 and it resumes, and docs/run_folders.md lists every code."""

import errno
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import keras_sb
from keras_sb.cli import main
from keras_sb.training import run_folder
from keras_sb.training.callbacks import StopOnNonFinite, TrainingDiverged
from keras_sb.training.config import FinetuneConfig

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--batch-size", "8", "--width", "0.25", "--no-progress"]
UNWRITABLE = Path("/proc/keras-sb-test/out")  # not even root can make a folder in /proc


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("argv", [
    ["pretrain", *FAST, "--no-previews", "--epochs", "1"],
    ["knn", "--batch-size", "8"],
    ["evaluate", "--model", keras_sb.DEFAULT_MODEL],
    ["export", "--model", keras_sb.DEFAULT_MODEL],
], ids=lambda argv: argv[0])
def test_out_that_cannot_be_written_is_an_argument_error(argv, capsys):
    assert main([*argv, "--out", str(UNWRITABLE)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"--out {UNWRITABLE}: /proc is not writable" in line and "resume" not in line


def test_export_to_a_read_only_folder_is_an_argument_error(tmp_path, monkeypatch, capsys):
    """As a read-only mount answers anyone, root included."""
    def read_only(**_):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(run_folder.tempfile, "mkdtemp", read_only)
    out = tmp_path / "models" / "1"
    assert main(["export", "--model", keras_sb.DEFAULT_MODEL, "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"--out {out}: {tmp_path} is not writable (Read-only file system)" in line
    assert list(tmp_path.iterdir()) == []


def test_checking_an_out_folder_leaves_nothing_behind(tmp_path):
    run_folder.check_output_folder(tmp_path / "new" / "run", "a folder")
    (tmp_path / "run").mkdir()
    run_folder.check_output_folder(tmp_path / "run", "a folder")
    assert [p.name for p in tmp_path.rglob("*")] == ["run"]


@pytest.mark.parametrize(("settings", "cause"), [
    ({"pretext_weight": 1e30}, "Likely cause: --pretext-weight 1e+30 (default 0); bring it "
     "back towards its default, or lower --learning-rate (now 0.0003)."),
    ({"learning_rate": 10.0, "mixed_precision": True},
     "Likely causes: --learning-rate 10 (default 0.0003), --mixed-precision (off by default); "
     "bring them back towards their defaults."),
    ({}, "Lower --learning-rate (now 0.0003)."),
])
def test_divergence_names_the_likely_cause(tmp_path, settings, cause):
    config = FinetuneConfig(out=str(tmp_path / "run"), **settings)
    with pytest.raises(TrainingDiverged) as raised:
        StopOnNonFinite(config)._check(math.inf, "loss at step 1")
    assert str(raised.value) == (
        "training diverged: loss at step 1 is inf. Nothing of this epoch was saved; the run "
        f"folder keeps the last good epoch. {cause} Then start again with --overwrite (or "
        "another --out).")


@pytest.mark.slow
def test_a_huge_loss_weight_is_named_when_training_diverges(tmp_path, capsys):
    """The issue's case: --pretext-weight 1e30 was told to lower --learning-rate."""
    assert main(["finetune", *FAST, "--epochs", "1", "--pretext-weight", "1e30",
                 "--out", str(tmp_path / "run")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "training diverged" in line and "Likely cause: --pretext-weight 1e+30" in line


@pytest.mark.slow
def test_sigterm_stops_a_run_with_143_and_it_resumes(tiny_unlabelled, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, str(ROOT / "train.py"), "--data", str(tiny_unlabelled), "--out",
               str(run), *FAST, "--no-previews", "--epochs", "40", "--patience", "40"]
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    deadline = time.monotonic() + 240
    while not (run / "backup" / "state.json").exists():  # an epoch committed
        assert worker.poll() is None and time.monotonic() < deadline, worker.stderr.read()
        time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 143
    assert worker.stderr.read().strip().endswith(
        "Stopped by SIGTERM. Rerun the same command to resume from the last finished epoch.")
    assert not (run / run_folder.LOCK_NAME).exists()
    resumed = subprocess.run([*command[:-4], "--epochs", "2"], capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stderr or "already holds" in resumed.stderr


def test_every_exit_code_is_documented_in_one_place():
    """docs/run_folders.md's table, which docs/training.md links to."""
    doc = (ROOT / "docs" / "run_folders.md").read_text()
    section = doc.split("## Exit codes of keras-sb", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\| (\d+) \|", section, re.M)) == {"0", "1", "2", "130", "143"}
    assert "run_folders.md#exit-codes-of-keras-sb" in (ROOT / "docs" / "training.md").read_text()

