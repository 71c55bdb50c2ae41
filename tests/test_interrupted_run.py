"""A test run stopped by Ctrl-C (SIGINT) or SIGTERM leaves no process behind
(tests/conftest.py): pytest, with this suite's conftest, on a test whose child process ignores
SIGINT and which waits for it in a ``finally``, as a test cleaning up after a ``train.py`` it
started does."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTS_A_CHILD = '''
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import os, signal, subprocess, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
grandchild = subprocess.Popen(["sleep", "600"])
print(os.getpid(), grandchild.pid, flush=True)
time.sleep(600)
"""


def test_waits_for_its_child():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    pids = Path(os.environ["PIDS_FILE"])
    Path(f"{pids}.part").write_text(child.stdout.readline())
    os.replace(f"{pids}.part", pids)
    try:
        time.sleep(600)
    finally:
        child.wait()
'''


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_stopped_test_run_leaves_no_process(tmp_path, signum):
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_starts_a_child.py").write_text(STARTS_A_CHILD)
    pids_file = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIDS_FILE": str(pids_file)}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=tmp_path, env=env, start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 240
        while not pids_file.exists():
            if run.poll() is not None or time.monotonic() > deadline:
                run.kill()
                pytest.fail(f"the test did not start its child:\n{run.communicate()[0]}")
            time.sleep(0.1)
        pids = [int(pid) for pid in pids_file.read_text().split()]
        assert len(pids) == 2 and all(map(running, pids))
        run.send_signal(signum)
        output = run.communicate(timeout=60)[0]  # before: waited for the child forever
        assert [pid for pid in pids if running(pid)] == [], output
        if signum == signal.SIGINT:
            assert run.returncode == pytest.ExitCode.INTERRUPTED, output
        else:
            assert run.returncode == -signal.SIGTERM, output
    finally:
        for pid in [run.pid, *pids]:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        run.wait()
