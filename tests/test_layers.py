"""The module layering of docs/architecture.md: which parts of keras_sb may import which."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "keras_sb"
FORBIDDEN = {
    "data": ("keras_sb.models", "keras_sb.training"),
    "color.py": ("keras_sb.models", "keras_sb.training"),
    "targets.py": ("keras_sb.models", "keras_sb.training"),
    "models/backbones.py": ("keras_sb.models.objectives", "keras_sb.training"),
    "models/objectives.py": ("keras_sb.models.backbones", "keras_sb.training"),
    "models": ("keras_sb.training", "keras_sb.demo", "keras_sb.export"),
    "checkpoints.py": ("keras_sb.training",),
    "evaluation.py": ("keras_sb.models", "keras_sb.training", "PIL"),
    "knn.py": ("keras_sb.models", "keras_sb.training"),
    "calibration.py": ("keras_sb.models", "keras_sb.training", "tensorflow", "keras"),
    "confusion_plot.py": ("keras_sb.models", "keras_sb.training"),
    "visualize.py": ("keras_sb.training",),
    "export.py": ("keras_sb.visualize", "keras_sb.training"),
    "demo": ("keras_sb.training",),
    # evaluate and knn borrow nothing from a training stage
    "training/evaluate.py": ("keras_sb.training.supervised", "keras_sb.training.stage"),
    "training/knn_probe.py": ("keras_sb.training.supervised", "keras_sb.training.stage"),
    "training/scoring.py": ("keras_sb.training.supervised", "keras_sb.training.stage"),
}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update([node.module] + [f"{node.module}.{a.name}" for a in node.names])
    return names


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_module_does_not_import_what_it_must_not(part):
    files = sorted((PACKAGE / part).rglob("*.py")) if (PACKAGE / part).is_dir() else [
        PACKAGE / part]
    assert files
    for path in files:
        bad = {name for name in imports(path)
               if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[part])}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"
