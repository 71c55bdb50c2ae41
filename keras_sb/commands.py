"""How messages spell keras-sb commands: the way the user ran this one (``keras-sb finetune``,
``python train.py --stage finetune``, ...), so that a printed next step can be pasted."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Spelling:
    """``stages``: the command before a stage's name; ``stage_flag``: whether the stage is
    given as ``--stage NAME``; ``demo``: the command that serves the web demo."""

    stages: str = "keras-sb"
    stage_flag: bool = False
    demo: str = "keras-sb demo"


SPELLINGS = {
    "keras-sb": Spelling(),
    "python -m keras_sb": Spelling("python -m keras_sb", False, "python -m keras_sb demo"),
    "python train.py": Spelling("python train.py", True, "python app.py"),
    "keras-sb-train": Spelling("keras-sb-train", True, "keras-sb-demo"),
}
_current = SPELLINGS["keras-sb"]


@contextlib.contextmanager
def spelled(spelling: Spelling) -> Iterator[None]:
    """Spell the commands of the messages written meanwhile as ``spelling`` (the command line
    runs a command inside it)."""
    global _current
    before, _current = _current, spelling
    try:
        yield
    finally:
        _current = before


def current() -> Spelling:
    return _current


def command(stage: str) -> str:
    """The command that runs ``stage`` ("demo" included), spelled as the user's was."""
    if stage == "demo":
        return _current.demo
    return f"{_current.stages} {'--stage ' if _current.stage_flag else ''}{stage}"
