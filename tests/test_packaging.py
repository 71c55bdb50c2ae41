"""keras-sb as a package: the wheel (contents, metadata, entry points), ``python -m keras_sb``,
and the code of docs/python_api.md."""

import json
import os
import re
import shlex
import shutil
import site
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import httpx
import pytest

import keras_sb

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_sb"
API_DOC = ROOT / "docs" / "python_api.md"
# Not copied to the build folder: outputs, caches and what an earlier build left there
# (setuptools' build/lib would carry stale files into the wheel).
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache", ".ruff_cache")
RUNTIME = ["tensorflow", "keras", "gradio", "numpy", "pillow", "tensorboard"]
TEST_ONLY = ["pytest", "playwright", "tensorflow-io"]
SCRIPTS = {"keras-sb": "keras_sb_cli:main", "keras-sb-train": "keras_sb_cli:train",
           "keras-sb-demo": "keras_sb_cli:demo"}


def requirement_name(line: str) -> str:
    return re.match(r"[A-Za-z0-9_.\-]+", line.strip()).group(0).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel ``pip wheel --no-deps --no-build-isolation .`` builds from a copy of the
    checkout, with stand-ins of what sits beside keras_sb/ in a working checkout: run
    folders (runs/, a package-like models/ at the root), a virtualenv."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "checkout"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    for stray in ("runs/pretrain-simple/notes.py", "models/__init__.py",
                  ".venv/lib/python3.11/site-packages/stray/__init__.py"):
        (source / stray).parent.mkdir(parents=True, exist_ok=True)
        (source / stray).write_text("")
    (source / "runs" / "pretrain-simple" / "best.keras").write_bytes(b"not a model")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-w", str(tmp / "dist"), str(source)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stderr  # setuptools'
    [built] = (tmp / "dist").glob("keras_sb-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    [path] = [n for n in wheel.namelist() if re.fullmatch(rf"keras_sb-[^/]+\.dist-info/{name}", n)]
    return wheel.read(path).decode()


def test_wheel_holds_the_package_and_its_data(wheel):
    names = set(wheel.namelist())
    assert wheel.filename.endswith(f"keras_sb-{keras_sb.__version__}-py3-none-any.whl")
    tops = {name.split("/")[0] for name in names}
    assert tops == {"keras_sb", "keras_sb_cli.py",  # no runs/ etc.
                    f"keras_sb-{keras_sb.__version__}.dist-info"}
    modules = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")}
    assert modules <= names
    assert {"keras_sb/cli.py", "keras_sb/__main__.py", "keras_sb/app_cli.py",
            "keras_sb/training/pretrain.py", "keras_sb/models/classifier.py"} <= names
    # Every file the code reads beside itself (Path(__file__)): SAMPLE_DATA, DEFAULT_MODEL
    # with its README and metrics, the demo's examples.
    data = {str(p.relative_to(ROOT)) for folder in ("sample_data", "default_model",
                                                    "demo_examples")
            for p in (PACKAGE / folder).rglob("*") if p.is_file()}
    assert data <= names
    assert len([n for n in names if n.startswith("keras_sb/sample_data/")]) >= 499
    assert {"keras_sb/sample_data/README.md",
            "keras_sb/sample_data/supervised/val/church/" + next(
                (PACKAGE / "sample_data/supervised/val/church").iterdir()).name,
            "keras_sb/default_model/classifier.keras", "keras_sb/default_model/metrics.json",
            "keras_sb/default_model/README.md", "keras_sb/demo_examples/parachute.jpg"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert (wheel.read("keras_sb/default_model/classifier.keras")
            == (PACKAGE / "default_model" / "classifier.keras").read_bytes())


def test_wheel_metadata_and_entry_points(wheel):
    entry_points = dist_info(wheel, "entry_points.txt")
    assert "[console_scripts]" in entry_points
    for command, function in SCRIPTS.items():
        assert re.search(rf"^{command} = {re.escape(function)}$", entry_points, re.M)
    metadata = Parser().parsestr(dist_info(wheel, "METADATA"))
    assert (metadata["Name"], metadata["Version"]) == ("keras-sb", keras_sb.__version__)
    requires = metadata.get_all("Requires-Dist")
    runtime = {requirement_name(r) for r in requires if "extra ==" not in r}
    test = {requirement_name(r) for r in requires if 'extra == "test"' in r}
    assert runtime == set(RUNTIME) and test == set(TEST_ONLY)
    assert 'tensorflow-io==0.37.1; python_version < "3.13" and extra == "test"' in requires


def test_declared_dependencies_match_requirements_txt():
    """pyproject.toml's dependencies and test extra are requirements.txt's lines (the CI's
    install list), split into runtime and test-only."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    normalise = lambda spec: re.sub(r"\s+", "", spec).replace("'", '"')  # noqa: E731
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    assert sorted(map(normalise, declared)) == sorted(map(normalise, lines))
    assert [requirement_name(d) for d in project["dependencies"]] == RUNTIME
    assert project["scripts"] == SCRIPTS
    assert project["dynamic"] == ["version"]


def checkout_env() -> dict:
    """The environment with the checkout importable (pytest's ``pythonpath`` is not passed on
    to subprocesses)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def test_python_m_keras_sb_is_the_training_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "keras_sb", "--help"], cwd=tmp_path,
                            env=checkout_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "python -m keras_sb STAGE" in result.stdout and "pretrain" in result.stdout
    assert result.stderr == ""  # TensorFlow's start-up lines stay muted


def test_import_registers_the_models_with_keras(tmp_path):
    """``import keras_sb`` is enough for ``keras.saving.load_model`` (docs/python_api.md)."""
    code = ("import keras, keras_sb; "
            "print(type(keras.saving.load_model(keras_sb.DEFAULT_MODEL)).__name__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=checkout_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SplitBrainClassifier"]


def venv_seeing_these_packages(venv: Path) -> Path:
    """A new virtualenv that sees this interpreter's packages (TensorFlow, pip, setuptools,
    ...) through a .pth file: pip then installs into it offline, only checking the declared
    dependencies against them. Returns its Python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], check=True,
                             capture_output=True, text=True).stdout.strip()
    Path(purelib, "parent_site_packages.pth").write_text("\n".join(site.getsitepackages()))
    return python


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A throwaway virtualenv with the wheel ``pip install``ed, offline. Returns the
    virtualenv's folder."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    python = venv_seeing_these_packages(venv)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
         "--disable-pip-version-check", wheel.filename],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return venv


def fresh_clone(target: Path) -> Path:
    """The checkout's files as a clone of it has them: the tracked ones (outside a git
    checkout: all but NOT_COPIED), copied to ``target``."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                                check=True, timeout=60).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return Path(shutil.copytree(ROOT, target, ignore=NOT_COPIED))
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # not one deleted from the working tree
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


@pytest.mark.slow
def test_quickstart_installs_the_commands_and_names_them(tmp_path, tiny_unlabelled):
    """scripts/setup_env.sh, the first step of quickstart.sh and test.sh, leaves keras-sb
    installed in a fresh clone's .venv, editable (the clone's code), printing nothing:
    no warning from pip or setuptools. Offline: .venv sees this interpreter's packages.
    quickstart.sh (here a tiny pretraining, run from another folder) ends with the lines
    that make keras-sb a command of the user's shell, and its next steps use it."""
    clone = fresh_clone(tmp_path / "clone")
    venv_seeing_these_packages(clone / ".venv")
    env = {**installed_env(clone / ".venv"), "PIP_NO_INDEX": "1"}
    result = subprocess.run(["bash", "scripts/setup_env.sh"], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""
    result = run_installed(clone / ".venv", [str(clone / ".venv" / "bin" / "keras-sb"),
                                             "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "keras-sb STAGE" in result.stdout and "pretrain" in result.stdout
    code = "import importlib.util; print(importlib.util.find_spec('keras_sb').origin)"
    result = run_installed(clone / ".venv", ["python", "-c", code], tmp_path)
    assert Path(result.stdout.strip()) == clone / "keras_sb" / "__init__.py", result.stderr
    result = subprocess.run(
        ["bash", str(clone / "scripts" / "quickstart.sh"), "--data", str(tiny_unlabelled),
         "--epochs", "1", "--batch-size", "8", "--width", "0.25", "--no-progress",
         "--no-previews"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Next: keras-sb linprobe --init runs/pretrain-simple " in result.stderr
    assert result.stdout.splitlines()[-5:] == [
        "keras-sb is installed in .venv. To use it in your shell:", f"  cd {clone}",
        "  source .venv/bin/activate",
        "then, for example, a linear probe of the pair on the shipped labelled photos:",
        "  keras-sb linprobe --init runs/pretrain-simple"]
    assert (clone / "runs" / "pretrain-simple" / "best.keras").is_file()


def installed_env(venv: Path) -> dict:
    """An environment that runs the installed package, not the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"}


def run_installed(venv: Path, command: list[str], cwd: Path, timeout: float = 300):
    return subprocess.run(command, cwd=cwd, env=installed_env(venv), capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_installed_package_and_commands(installed, tmp_path):
    code = "import keras_sb; print(keras_sb.__file__, keras_sb.SAMPLE_DATA, keras_sb.DEFAULT_MODEL)"
    result = run_installed(installed, ["python", "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    module, sample, model = map(Path, result.stdout.split())
    assert installed in module.parents and installed in sample.parents  # not the checkout
    assert model.is_file() and (sample / "supervised" / "val").is_dir()
    for command, expected in (("keras-sb", "classifier"), ("keras-sb-train", "--stage"),
                              ("keras-sb-demo", "--max-upload-mb")):
        result = run_installed(installed, [command, "--help"], tmp_path)
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout
    # The installed command, model and sample data, end to end (a few seconds).
    result = run_installed(installed, ["keras-sb-train", "--stage", "evaluate", "--model",
                                       str(model), "--out", "eval"], tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["images"] == 100 and 0 <= report["top1"] <= 1
    assert run_installed(installed, ["keras-sb-train", "--stage", "nope"],
                         tmp_path).returncode == 2


@pytest.mark.slow
def test_installed_demo_serves(installed, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(["keras-sb-demo", "--port", str(port)], cwd=tmp_path,
                                env=installed_env(installed), stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline, page = time.monotonic() + 240, None
        while page is None and demo.poll() is None and time.monotonic() < deadline:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
            except httpx.TransportError:
                time.sleep(1)
        assert page is not None, log.read_text()
        assert page.status_code == 200 and "classifier.keras" in httpx.get(
            f"http://127.0.0.1:{port}/config", timeout=30).text
    finally:
        demo.terminate()
        demo.wait(timeout=60)


def code_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", markdown, re.M | re.S)


# What a line of stderr must not be: a Python or TensorFlow warning, TensorFlow's native log
# lines (I0000 00:00:... port.cc:153] oneDNN ..., CUDA probing), a traceback.
WARNING_LINE = re.compile(r"warn|retracing|cuda|onednn|^[IWEF]\d{4} |traceback", re.I)


@pytest.mark.slow
def test_python_api_doc_runs(installed, tmp_path):
    """Every Python block of docs/python_api.md, in order, each in a fresh process, in one
    empty folder, with the installed package (the blocks train on the shipped sample with tiny
    settings), without a warning on stderr."""
    blocks = code_blocks(API_DOC.read_text(), "python")
    assert len(blocks) >= 4
    work = tmp_path / "work"
    work.mkdir()
    stdout = ""
    for number, block in enumerate(blocks, start=1):
        script = tmp_path / f"block_{number}.py"
        script.write_text(block)
        result = run_installed(installed, ["python", str(script)], work, timeout=1200)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
        warnings = [line for line in result.stderr.splitlines() if WARNING_LINE.search(line)]
        assert not warnings, f"block {number}:\n" + "\n".join(warnings)
        stdout += result.stdout
    assert str(installed) in stdout  # SAMPLE_DATA of the installed package
    for made in ("my_pretext.keras", "runs/pretrain-tiny/best.keras",
                 "runs/finetune-tiny/best.keras", "runs/linprobe-tiny/best.keras",
                 "runs/knn-tiny/report.json", "runs/finetune-tiny/eval-val/report.json"):
        assert (work / made).is_file(), made
    assert "temperature" in stdout


@pytest.mark.slow
def test_python_api_doc_commands_run(installed, tmp_path):
    """The doc's training lines, with the installed command (the demo line serves until
    interrupted: test_installed_demo_serves)."""
    lines = [line.split("#")[0].strip() for block in code_blocks(API_DOC.read_text(), "bash")
             for line in block.splitlines()]
    commands = [shlex.split(line) for line in lines
                if line.startswith("keras-sb ") and not line.startswith("keras-sb demo")]
    assert len(commands) >= 2
    for command in commands:
        result = run_installed(installed, command, tmp_path, timeout=600)
        assert result.returncode == 0, " ".join(command) + "\n" + result.stderr[-5000:]
    assert (tmp_path / "runs" / "finetune-tiny" / "best.keras").is_file()
