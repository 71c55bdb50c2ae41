"""Run folders never lose a user's files or progress: --overwrite, kills at any moment, a full
disk, divergence, and numeric flags out of range."""

import csv
import dataclasses
import errno
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_sb.safe_io
from keras_sb.cli import build_parser, main
from keras_sb.models import SplitBrain, SplitBrainClassifier
from keras_sb.training.callbacks import ResumableEarlyStopping
from keras_sb.training.pretrain import PretrainConfig
from keras_sb.training.run_folder import (
    LOCK_NAME,
    RUN_CONFIG_KEYS,
    RunFolder,
    RunFolderError,
)

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--batch-size", "8", "--width", "0.25", "--val-fraction", "0.2", "--no-progress",
        "--no-previews"]


def pretrain(data: Path, run: Path, *extra: str) -> int:
    return main(["--data", str(data), "--out", str(run), *FAST, *extra])


def logged_epochs(run: Path) -> list[int]:
    with (run / "log.csv").open() as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def assert_complete(run: Path, epochs: int) -> None:
    """A finished run: each epoch logged once, loadable finite checkpoints, no leftovers."""
    assert logged_epochs(run) == list(range(epochs))
    assert json.loads((run / "summary.json").read_text())["epochs"] == epochs
    for name in ("best.keras", "last.keras"):
        model = keras.saving.load_model(run / name, compile=False)
        assert all(np.isfinite(w).all() for w in model.get_weights()), name
    assert json.loads((run / "backup" / "state.json").read_text())["complete"]
    assert not list(run.glob(".tmp-*"))


@pytest.fixture(scope="module")
def two_epoch_run(tiny_unlabelled, tmp_path_factory) -> Path:
    """A finished 2-epoch run (FAST) on the tiny photos, trained once for the tests that start
    from a finished run: each works on its own copy (``copy_of``)."""
    run = tmp_path_factory.mktemp("two_epoch_run") / "run"
    assert pretrain(tiny_unlabelled, run, "--epochs", "2") == 0
    assert_complete(run, 2)
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    """The run folder copied to tmp_path/run (resuming does not compare --out)."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


# --overwrite and the folders a run may use


def test_overwrite_refuses_a_folder_that_is_not_a_run(tiny_unlabelled, tmp_path, capsys):
    precious = tmp_path / "project"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    assert pretrain(tiny_unlabelled, precious, "--overwrite") == 2
    assert "does not hold a keras-sb run" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "mine"
    # without --overwrite a run is not written into it either
    assert pretrain(tiny_unlabelled, precious, "--epochs", "1") == 2
    assert sorted(p.name for p in precious.iterdir()) == ["notes.txt"]


def test_overwrite_deletes_only_what_the_run_wrote_after_the_data_is_checked(
        tiny_unlabelled, two_epoch_run, tmp_path, capsys):
    run = copy_of(two_epoch_run, tmp_path)
    (run / "my_analysis.ipynb").write_text("{}")
    written = sorted(p.name for p in run.iterdir())
    # bad data: refused before anything is deleted
    assert pretrain(tmp_path / "missing", run, "--epochs", "1", "--overwrite") == 2
    assert sorted(p.name for p in run.iterdir()) == written
    # fewer epochs than the run holds: only a fresh run logs just one
    assert pretrain(tiny_unlabelled, run, "--epochs", "1", "--overwrite") == 0
    assert (run / "my_analysis.ipynb").read_text() == "{}"
    assert logged_epochs(run) == [0]


@pytest.fixture
def few_unlabelled(tiny_unlabelled, tmp_path) -> Path:
    """An ssl_data_96-style folder with 10 of the tiny photos."""
    root = tmp_path / "few"
    (root / "unsupervised").mkdir(parents=True)
    for path in sorted((tiny_unlabelled / "unsupervised").iterdir())[:10]:
        shutil.copy(path, root / "unsupervised" / path.name)
    return root


def test_snapshots_every_nth_epoch_and_overwrite_removes_them(few_unlabelled, tmp_path):
    run = tmp_path / "run"
    assert pretrain(few_unlabelled, run, "--epochs", "4", "--snapshot-every", "2") == 0
    snapshots = sorted(p.name for p in run.glob("epoch_*"))
    assert snapshots == ["epoch_002.keras", "epoch_004.keras"]
    for name in snapshots:
        model = keras.saving.load_model(run / name, compile=False)
        assert isinstance(model, SplitBrain)
    # the last snapshot is the last epoch's model
    last = keras.saving.load_model(run / "last.keras", compile=False)
    for ours, theirs in zip(model.get_weights(), last.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    user_files = ["notes.txt", "epoch_2.keras", "my_epoch_002.keras"]
    for name in user_files:
        (run / name).write_text("mine")
    # what `--overwrite` does once the inputs are checked (without training again)
    config = json.loads((run / "config.json").read_text())
    RunFolder(run).start(config, dict.fromkeys(config), overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == sorted(["config.json", *user_files])
    for name in user_files:
        assert (run / name).read_text() == "mine"


def test_finished_run_with_other_settings_is_refused(tiny_unlabelled, two_epoch_run,
                                                     tmp_path, capsys):
    run = copy_of(two_epoch_run, tmp_path)
    capsys.readouterr()
    assert pretrain(tiny_unlabelled, run, "--epochs", "2", "--seed", "3") == 2
    err = capsys.readouterr().err
    assert "holds a finished run with other settings" in err and "seed: 0 -> 3" in err


def test_a_setting_added_by_a_later_release_counts_as_its_default(tmp_path):
    """config.json of an older release lacks the new settings: the same command still
    resumes it, and another value of a new setting is refused."""
    folder = RunFolder(tmp_path / "run")
    old = {key: 0 for key in RUN_CONFIG_KEYS} | {"objective": "split_brain", "seed": 0}
    folder.start(old, {}, overwrite=False)
    folder.check_settings({**old, "pretext_weight": 0.0}, {"seed": 0, "pretext_weight": 0.0})
    with pytest.raises(RunFolderError, match="pretext_weight: 0.0 -> 1.0"):
        folder.check_settings({**old, "pretext_weight": 1.0},
                              {"seed": 0, "pretext_weight": 0.0})


@pytest.mark.parametrize("where", ["file", "below_a_file"])
def test_out_that_cannot_be_a_folder_is_explained(tiny_unlabelled, tmp_path, capsys, where):
    existing = tmp_path / "a_file"
    existing.write_text("x")
    out = existing if where == "file" else existing / "run"
    assert pretrain(tiny_unlabelled, out) == 2
    err = capsys.readouterr().err
    assert str(out) in err and ("is a file" in err or "not writable" in err)
    assert existing.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to read-only folders")
def test_read_only_out_is_explained(tiny_unlabelled, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    assert pretrain(tiny_unlabelled, locked / "run") == 2
    assert "not writable" in capsys.readouterr().err


def test_init_inside_out_is_refused(tmp_path, capsys):
    """Fine-tuning into the pretraining run's own folder would replace its checkpoint."""
    run = tmp_path / "run"
    run.mkdir()
    SplitBrain("simple", width=0.25).save(run / "best.keras")
    (run / "config.json").write_text(json.dumps(dict.fromkeys(RUN_CONFIG_KEYS, 0)))
    assert main(["--stage", "finetune", "--init", str(run), "--out", str(run),
                 "--overwrite"]) == 2
    assert "lies inside --out" in capsys.readouterr().err
    assert (run / "best.keras").exists()


# interruptions and a full disk


def test_a_finished_run_is_extended_with_more_epochs(tiny_unlabelled, two_epoch_run, tmp_path,
                                                     caplog):
    run = copy_of(two_epoch_run, tmp_path)
    caplog.set_level(logging.INFO, logger="keras_sb")
    first = json.loads((run / "summary.json").read_text())
    assert pretrain(tiny_unlabelled, run, "--epochs", "2") == 0
    assert "already holds this finished run of 2 epochs" in caplog.text
    assert pretrain(tiny_unlabelled, run, "--epochs", "3") == 0
    assert "extending the finished run from 2 to 3 epochs" in caplog.text
    assert_complete(run, 3)
    extended = json.loads((run / "summary.json").read_text())
    assert extended["loss"][:2] == first["loss"]
    assert json.loads((run / "config.json").read_text())["epochs"] == 3


@pytest.mark.parametrize(("epochs", "patience", "extended", "message"), [
    (4, 0, False, "stopped early after 3 of 5 epochs (--patience 0): to train on, raise"),
    (4, 2, True, "extending the finished run from 3 to 4 epochs"),
    (3, 2, False, "already holds this finished run of 3 epochs"),
])
def test_an_early_stopped_run_is_extended_only_with_more_patience(
        tmp_path, caplog, epochs, patience, extended, message):
    folder = RunFolder(tmp_path)
    settings = {key: 0 for key in RUN_CONFIG_KEYS} | {"objective": "split_brain"}
    folder.start({**settings, "epochs": 5, "patience": 0}, {}, overwrite=False)
    folder.log.write_text("epoch,loss\n0,3\n1,2\n2,2.5\n")
    folder.backup.mkdir()
    np.savez(folder.backup / "epoch_0003.npz", np.zeros(2))
    (folder.backup / "state.json").write_text(
        '{"epochs": 3, "weights": "epoch_0003.npz", "complete": true}')
    folder.write_summary({})
    caplog.set_level(logging.INFO, logger="keras_sb")
    config = {**settings, "epochs": epochs, "patience": patience}
    assert folder.already_finished(config, {}, overwrite=False, types={}) is not extended
    assert message in caplog.text


@pytest.mark.parametrize("weights", ["epoch_0001.npz", "epoch_0001.weights.h5"])
def test_resume_state_restores_weights_and_optimizer(tmp_path, weights):
    """The state's arrays, and the .weights.h5 of keras-sb 0.2's unfinished runs."""
    from keras_sb.training.resume import ResumeState

    def compiled(seed: int) -> SplitBrain:
        keras.utils.set_random_seed(seed)
        return SplitBrain("simple", width=0.25).compile_for_pretraining(1e-3)

    trained = compiled(0)
    state = ResumeState(tmp_path)
    variables = state.variables(trained)
    variables[-1].assign(variables[-1] + 1)  # an optimizer slot, as after training
    if weights.endswith(".npz"):
        keras_sb.safe_io.save_arrays([np.asarray(v) for v in variables], tmp_path / weights)
    else:
        keras_sb.safe_io.save_model(trained, tmp_path / weights)
    (tmp_path / "state.json").write_text(json.dumps(
        {"epochs": 1, "weights": weights, "complete": False}))
    fresh = compiled(1)
    assert state.restore(fresh)["epochs"] == 1
    for ours, theirs in zip(state.variables(fresh), variables, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_log_and_resume_state_are_one_step(tiny_unlabelled, tmp_path, monkeypatch):
    """A kill after an epoch's log row but before its state is committed reruns that epoch
    once: the crash is injected at the commit (the rename of backup/state.json)."""
    run = tmp_path / "run"
    real_replace = os.replace

    def crash_on_second_commit(src, dst):
        if Path(dst).name == "state.json" and (Path(dst).exists()):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(keras_sb.safe_io.os, "replace", crash_on_second_commit)
    assert pretrain(tiny_unlabelled, run, "--epochs", "3") == 130
    assert logged_epochs(run) == [0, 1]  # epoch 2's row is there, its state is not
    monkeypatch.setattr(keras_sb.safe_io.os, "replace", real_replace)
    assert pretrain(tiny_unlabelled, run, "--epochs", "3") == 0
    assert_complete(run, 3)


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["space_check", "write_error"])
def test_full_disk_is_reported_and_the_run_resumes_once_space_is_freed(
        tiny_unlabelled, tmp_path, monkeypatch, capsys, caplog, failure):
    run = tmp_path / "run"
    saves = []
    real_save = keras.Model.save

    def filling_disk(model, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 3:  # epoch 2's best.keras
            if failure == "write_error":
                Path(path).write_bytes(b"PK\x03\x04 half a zip")
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            raise keras_sb.safe_io.DiskFullError(errno.ENOSPC, f"not enough free disk space "
                                                 f"in {Path(path).parent}")
        real_save(model, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", filling_disk)
    assert pretrain(tiny_unlabelled, run, "--epochs", "3") == 1
    err = capsys.readouterr().err
    assert "space" in err and "rerun the same command" in err
    assert zipfile.is_zipfile(run / "best.keras")  # the previous good copy, untouched
    assert not list(run.glob(".tmp-*"))
    monkeypatch.setattr(keras.Model, "save", real_save)
    caplog.set_level(logging.INFO, logger="keras_sb")
    assert pretrain(tiny_unlabelled, run, "--epochs", "3") == 0
    assert "resuming after epoch 1 of 3" in caplog.text
    assert_complete(run, 3)


def test_space_is_checked_before_a_checkpoint_is_written(tmp_path, monkeypatch):
    model = SplitBrain("simple", width=0.25)
    monkeypatch.setattr(keras_sb.safe_io.shutil, "disk_usage",
                        lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(keras_sb.safe_io.DiskFullError, match="MiB free"):
        keras_sb.safe_io.save_model(model, tmp_path / "best.keras")
    assert list(tmp_path.iterdir()) == []


def committed_epochs(run: Path) -> int:
    state = run / "backup" / "state.json"
    return json.loads(state.read_text())["epochs"] if state.exists() else 0


def wait_until(condition, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.time() + seconds
    while process.poll() is None and not condition() and time.time() < deadline:
        time.sleep(0.02)


@pytest.mark.slow
def test_kills_at_random_moments_never_break_the_run(tiny_unlabelled, tmp_path):
    """SIGKILL three times at random moments (during the start-up of a new run, within a
    second and a half after an epoch was committed: the next epoch, its checkpoints, log and
    state writes, and during the start-up of the resumed run), then let the run finish."""
    run = tmp_path / "run"
    epochs = 20  # more than three kills can let through on a fast machine
    command = [sys.executable, str(ROOT / "train.py"), "--data", str(tiny_unlabelled),
               "--out", str(run), "--epochs", str(epochs), "--patience", "99", *FAST]
    rng = random.Random(0)
    committed = []
    # Each kill costs a process start (TensorFlow's import, the model's build and XLA
    # compilation): a fourth, after a commit of the resumed run, repeated the second's case.
    for attempt in range(3):
        launched, before = time.time(), committed_epochs(run)
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        config = run / "config.json"
        wait_until(lambda c=config, t=launched: c.exists() and c.stat().st_mtime >= t, process)
        if attempt % 2:
            wait_until(lambda b=before: committed_epochs(run) > b, process)
            time.sleep(rng.uniform(0.0, 1.5))
        else:
            time.sleep(rng.uniform(0.0, 3.0))
        assert process.poll() is None, "the run ended before it was killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        committed.append(committed_epochs(run))
    assert 0 < committed[-1] < epochs, committed
    # The same command finishes the run, in this process (one TensorFlow start-up less).
    assert pretrain(tiny_unlabelled, run, "--epochs", str(epochs), "--patience", "99") == 0
    assert_complete(run, epochs)


# one process at a time, and damaged files


def test_a_run_folder_is_locked_while_a_process_uses_it(tmp_path):
    """The lock names its holder; a lock file left by a killed process (the OS lock died with
    it) neither blocks the folder nor makes it "not a run"; --overwrite keeps the lock file;
    a folder the lock created is removed again when nothing was written to it."""
    run = RunFolder(tmp_path / "run")
    with run.lock():
        assert (run.path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
        with pytest.raises(RunFolderError, match=f"in use by .*PID {os.getpid()} on"), \
                RunFolder(run.path).lock():
            pass
        run.start({}, {}, overwrite=True)
        assert sorted(p.name for p in run.path.iterdir()) == [LOCK_NAME, "config.json"]
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json"]
    new = RunFolder(tmp_path / "new" / "run")
    with new.lock():
        assert (new.path / LOCK_NAME).exists()
    assert not (tmp_path / "new").exists()
    (run.path / "config.json").unlink()
    (run.path / LOCK_NAME).write_text("999999999 gone\n")  # as a SIGKILL leaves it
    run.check_usable()
    with run.lock():
        assert (run.path / LOCK_NAME).read_text().split()[0] == str(os.getpid())


@pytest.mark.slow
def test_two_identical_commands_at_once_one_runs_the_other_is_refused(tiny_unlabelled,
                                                                      tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, str(ROOT / "train.py"), "--data", str(tiny_unlabelled),
               "--out", str(run), "--epochs", "1", *FAST]
    processes = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [process.communicate(timeout=300)[1] for process in processes]
    codes = [process.returncode for process in processes]
    assert sorted(codes) == [0, 2], errors
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert f"is in use by another keras-sb process (PID {processes[winner].pid} on" \
        in errors[loser]
    assert_complete(run, 1)
    assert pretrain(tiny_unlabelled, run, "--epochs", "1") == 0


def finished_run(data: Path, run: Path) -> list[str]:
    """A finished 2-epoch pretraining run as train.py leaves it (its resume state does not
    fit a model); returns the arguments that rerun it."""
    argv = ["--data", str(data), "--out", str(run), *FAST, "--epochs", "2"]
    settings = vars(build_parser().parse_args(argv))
    settings.pop("stage")
    folder = RunFolder(run)
    folder.start(dataclasses.asdict(PretrainConfig(**settings)), {}, overwrite=False)
    folder.log.write_text("epoch,loss,val_loss\n0,3.5,3.25\n1,3,3.125\n")
    folder.backup.mkdir()
    keras_sb.safe_io.save_arrays([np.zeros(3), np.ones((2, 2))],
                                 folder.backup / "epoch_0002.npz")
    (folder.backup / "state.json").write_text(
        '{"epochs": 2, "weights": "epoch_0002.npz", "complete": true}\n')
    folder.write_summary({"epochs": 2})
    return argv


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


DAMAGE = {
    "truncated npz": ("backup/epoch_0002.npz", truncate),
    "missing npz": ("backup/state.json", lambda p: (p.parent / "epoch_0002.npz").unlink()),
    "truncated state": ("backup/state.json", truncate),
    "state without weights": ("backup/state.json",
                              lambda p: p.write_text('{"epochs": 2, "complete": true}')),
    "garbage log line": ("log.csv", lambda p: p.write_text(p.read_text() + "garbage\n")),
    "log row missing": ("log.csv", lambda p: p.write_text("epoch,loss,val_loss\n0,3.5,3\n")),
    "log rows out of order": ("log.csv", lambda p: p.write_text(
        "epoch,loss,val_loss\n1,3.5,3\n0,3,3\n")),
    "config type": ("config.json", lambda p: p.write_text(
        p.read_text().replace('"epochs": 2', '"epochs": "2"'))),
    "config not json": ("config.json", truncate),
    "log not utf-8": ("log.csv", lambda p: p.write_bytes(p.read_bytes() + b"2,\xff\xfe,3\n")),
    "summary not json": ("summary.json", truncate),
    "summary not an object": ("summary.json", lambda p: p.write_text("[]\n")),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("epochs", ["2", "3"])  # rerun, extension
def test_damaged_run_files_are_named_and_nothing_is_changed(tiny_unlabelled, tmp_path, capsys,
                                                            damage, epochs):
    run = tmp_path / "run"
    argv = finished_run(tiny_unlabelled, run)
    name, spoil = DAMAGE[damage]
    spoil(run / name)
    before = contents(run)
    assert main([*argv, "--epochs", epochs]) == 2
    err = capsys.readouterr().err
    assert str(run / name) in err or (damage == "config not json" and "config.json" in err)
    assert "Restore" in err and len(err.strip().splitlines()) == 1, err
    assert contents(run) == before
    if f"or delete {run / 'backup'} to keep the finished run" in err:
        shutil.rmtree(run / "backup")
        assert main([*argv, "--epochs", epochs]) == 0


def test_a_failed_extension_leaves_the_finished_run_as_it_was(tiny_unlabelled, tmp_path,
                                                              capsys, caplog):
    """Its state is sound but of another model: found only once the model is built."""
    run = tmp_path / "run"
    argv = finished_run(tiny_unlabelled, run)
    before = contents(run)
    assert main([*argv, "--epochs", "3"]) == 2
    assert "does not fit this model" in capsys.readouterr().err
    assert contents(run) == before
    caplog.set_level(logging.INFO, logger="keras_sb")
    assert main(argv) == 0
    assert "already holds this finished run of 2 epochs" in caplog.text


@pytest.mark.parametrize(("log", "state", "finished", "problem"), [
    ("0,3\n1,2\n", (2, False), False, None),
    ("0,3\n1,2\n2,1\n", (2, False), False, None),  # epoch 3 logged, killed before its commit
    ("0,3\n", (0, False), False, None),
    ("0,3\n1,2\n2,1\n", None, True, None),  # keras-sb 0.2 removed the state of finished runs
    ("0,3\n1,2\n2,1\n", (2, True), True, "line 4 .* comes after the 2 epochs"),
    ("0,3\n1,2\n2,1\n3,1\n", (2, False), False, "line 5 .* comes after the 2 epochs"),
    ("0,3\n1,2\n", (0, False), False, "line 3 .* comes after the 0 epochs"),
    ("0,3\n1\n", (2, False), False, "line 3 is not the row of epoch 1"),
    ("0,3\n1,x\n", (2, False), False, "line 3 is not the row of epoch 1"),
    ("0,3\n\n1,2\n", (2, False), False, "line 3 is not the row of epoch 1"),
    ("0,3\n", (2, False), False, "it has rows for 1 epochs, but"),
])
def test_log_rows_are_checked_against_the_committed_epochs(tmp_path, log, state, finished,
                                                          problem):
    folder = RunFolder(tmp_path)
    folder.start({key: 0 for key in RUN_CONFIG_KEYS} | {"objective": "split_brain"}, {},
                 overwrite=False)
    folder.log.write_text("epoch,loss\n" + log)
    if state:
        folder.backup.mkdir()
        np.savez(folder.backup / "epoch_0002.npz", np.zeros(2))
        (folder.backup / "state.json").write_text(json.dumps(
            {"epochs": state[0], "weights": "epoch_0002.npz", "complete": state[1]}))
    if finished:
        folder.write_summary({})
    if problem is None:
        folder.check_files(types={})
    else:
        with pytest.raises(RunFolderError, match=f"{folder.log} is damaged: {problem}"):
            folder.check_files(types={})


def test_trim_log_keeps_the_rows_of_the_committed_epochs(tmp_path):
    folder = RunFolder(tmp_path)
    folder.trim_log(1)  # another worker than the chief: no log
    folder.log.write_text("epoch,loss\n0,3\n1,2\n")
    folder.trim_log(1)
    assert folder.log.read_text() == "epoch,loss\n0,3\n"


# divergence and numeric flags


def test_divergence_stops_with_an_error_and_saves_nothing_non_finite(tiny_unlabelled,
                                                                      tmp_path, capsys):
    run = tmp_path / "run"
    assert pretrain(tiny_unlabelled, run, "--epochs", "3", "--learning-rate", "1e38") == 1
    err = capsys.readouterr().err
    assert "training diverged" in err and "--learning-rate" in err
    assert not (run / "summary.json").exists()
    for name in ("best.keras", "last.keras"):
        if (run / name).exists():
            model = keras.saving.load_model(run / name, compile=False)
            assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize(("argv", "message"), [
    (["--learning-rate", "nan"], "--learning-rate must be a finite number"),
    (["--learning-rate", "inf"], "--learning-rate must be a finite number"),
    (["--width", "0"], "--width must be greater than 0"),
    (["--width", "-1"], "--width must be greater than 0"),
    (["--patience", "-3"], "--patience must be at least 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--lr-decay", "nan"], "--lr-decay must be a finite number"),
    (["--seed", "-1"], "--seed must be at least 0"),
    (["--stage", "evaluate", "--model", "x.keras", "--batch-size", "0"],
     "--batch-size must be at least 1"),
    (["--stage", "export", "--model", "x.keras", "--out", "m/1", "--temperature", "nan"],
     "--temperature must be a finite number"),
    (["--stage", "export", "--model", "x.keras", "--out", "m/1", "--temperature", "0"],
     "--temperature must be greater than 0"),
    (["--stage", "linprobe", "--top-k", "0"], "--top-k must be at least 1"),
])
def test_numeric_flags_out_of_range_are_refused(argv, message, tmp_path, capsys):
    if "--out" not in argv:
        argv = [*argv, "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# other stages' outputs and checkpoints


def test_export_and_evaluate_out_that_is_a_file_is_refused(tmp_path, capsys):
    model = tmp_path / "classifier.keras"
    SplitBrainClassifier(SplitBrain("simple", width=0.25), 3, ["a", "b", "c"]).save(model)
    taken = tmp_path / "taken"
    taken.write_text("x")
    for stage in ("export", "evaluate"):
        assert main(["--stage", stage, "--model", str(model), "--out", str(taken)]) == 2
        assert str(taken) in capsys.readouterr().err
    assert taken.read_text() == "x"


def test_export_writes_a_version_folder_in_one_step(tmp_path):
    model = tmp_path / "classifier.keras"
    SplitBrainClassifier(SplitBrain("simple", width=0.25), 3, ["a", "b", "c"]).save(model)
    out = tmp_path / "models" / "sb" / "1"
    assert main(["--stage", "export", "--model", str(model), "--out", str(out)]) == 0
    assert (out / "saved_model.pb").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["1"]  # no temporary left
    assert main(["--stage", "export", "--model", str(model), "--out", str(out)]) == 2


@pytest.mark.parametrize("contents", [b"", b"junk", b"PK\x03\x04 truncated"])
def test_damaged_checkpoint_is_reported_as_damaged(tmp_path, capsys, contents):
    broken = tmp_path / "best.keras"
    broken.write_bytes(contents)
    assert main(["--stage", "evaluate", "--model", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "is not a .keras file" in err and "not found" not in err.lower()


def test_resumed_early_stopping_counts_the_epochs_before_the_interruption():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    stopping = ResumableEarlyStopping([1.0, 0.5, 0.6, 0.7], monitor="val_loss", mode="min",
                                      patience=3)
    stopping.set_model(model)
    stopping.on_train_begin()
    assert (stopping.best, stopping.best_epoch, stopping.wait) == (0.5, 1, 2)
    stopping.on_epoch_end(4, {"val_loss": 0.8})
    assert model.stop_training
