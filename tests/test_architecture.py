"""docs/architecture.md matches the code: every import rule of its table "Which module owns
what" holds in every module of keras_sb/, and its Layout lists exactly the modules on disk."""

import ast
import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_sb"
DOC = ROOT / "docs" / "architecture.md"
RULES_HEADING = "Which module owns what"
LAYOUT_HEADING = "Layout"


def section(markdown: str, heading: str) -> str:
    """The text under ``## heading``, up to the next heading of level 1 or 2."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^#{{1,2}} |\Z)", markdown, re.M | re.S)
    assert match, f"{DOC.name} has no section '## {heading}'"
    return match.group(1)


def rules(markdown: str) -> list[tuple[str, str]]:
    """(module, forbidden) pairs of the table's "module" and "must not import" columns: paths
    relative to keras_sb/, a folder ending in '/' standing for every module in it."""
    rows = [line.strip() for line in section(markdown, RULES_HEADING).splitlines()
            if line.strip().startswith("|")]
    assert rows, f"no table under '## {RULES_HEADING}'"
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    module_column, forbidden_column = header.index("module"), header.index("must not import")
    pairs = []
    for row in rows[2:]:  # after the header and its --- line
        cells = row.strip("|").split("|")
        assert len(cells) == len(header), f"row with {len(cells)} cells: {row}"
        modules = re.findall(r"`([^`]+)`", cells[module_column])
        forbidden = re.findall(r"`([^`]+)`", cells[forbidden_column])
        assert modules and forbidden, f"a row without a module or a rule: {row}"
        pairs += [(module, other) for module in modules for other in forbidden]
    return pairs


def dotted(spec: str) -> str:
    """``data/`` -> ``keras_sb.data``; ``models/backbones.py`` -> ``keras_sb.models.backbones``."""
    return ".".join(["keras_sb", *spec.removesuffix("/").removesuffix(".py").split("/")])


def covers(spec: str, module: str) -> bool:
    """Whether the table's ``spec`` names ``module`` (a folder: its package and all in it)."""
    name = dotted(spec)
    return module == name or (spec.endswith("/") and module.startswith(name + "."))


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_on_disk(package: Path = PACKAGE) -> dict[str, Path]:
    """{dotted name: file} of every module under ``package``."""
    return {module_name(path, package): path for path in sorted(package.rglob("*.py"))}


def imports(path: Path, name: str, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every keras_sb module that ``path`` imports, at any depth (inside
    functions, classes, ``if``, ``try``): ``import keras_sb.x``, ``from keras_sb.x import y``
    (``keras_sb.x.y`` where that is a module in ``known``, else ``keras_sb.x``) and relative
    imports; ``name`` is the module's own dotted name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[:len(parts) - node.level + 1],
                                 *([node.module] if node.module else [])])
            else:
                base = node.module
            for alias in node.names:
                found.append((node.lineno, f"{base}.{alias.name}"
                              if f"{base}.{alias.name}" in known else base))
    return sorted((line, module) for line, module in found
                  if module == "keras_sb" or module.startswith("keras_sb."))


def violations(pairs: list[tuple[str, str]], modules: dict[str, Path], root: Path = ROOT
               ) -> list[str]:
    """Each import that breaks a rule, as 'file:line imports module, but the rule ...'."""
    found = []
    for name, path in modules.items():
        applying = [(spec, other) for spec, other in pairs if covers(spec, name)]
        for line, imported in imports(path, name, set(modules)) if applying else ():
            found += [f"{path.relative_to(root)}:{line} imports {imported}, but the rule of "
                      f"docs/architecture.md says `{spec}` must not import `{other}`"
                      for spec, other in applying if covers(other, imported)]
    return found


def layout(markdown: str) -> list[str]:
    """The modules the Layout lists: the first word of each line of its code block that
    names a .py file under keras_sb/ (continuation lines are indented)."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", section(markdown, LAYOUT_HEADING), re.M | re.S)
    assert blocks, f"no code block under '## {LAYOUT_HEADING}'"
    return [line.split()[0] for block in blocks for line in block.splitlines()
            if line[:1].strip() and line.split()[0].startswith("keras_sb/")
            and line.split()[0].endswith(".py")]


def test_rules_name_modules_that_exist():
    pairs = rules(DOC.read_text())
    assert len(pairs) >= 20
    specs = {spec for pair in pairs for spec in pair}
    missing = [spec for spec in sorted(specs)
               if not (PACKAGE / spec / "__init__.py" if spec.endswith("/") else PACKAGE / spec)
               .is_file()]
    assert not missing, f"docs/architecture.md's rules name modules that do not exist: {missing}"


def test_import_rules_hold():
    found = violations(rules(DOC.read_text()), modules_on_disk())
    assert not found, "\n".join(found)


def test_layout_lists_exactly_the_modules_on_disk():
    listed = layout(DOC.read_text())
    on_disk = {str(path.relative_to(ROOT)) for path in modules_on_disk().values()}
    problems = [f"not in the Layout: {path}" for path in sorted(on_disk - set(listed))]
    problems += [f"in the Layout but not on disk: {path}" for path in sorted(set(listed) - on_disk)]
    problems += [f"in the Layout twice: {path}"
                 for path in sorted({path for path in listed if listed.count(path) > 1})]
    assert not problems, "docs/architecture.md, Layout:\n" + "\n".join(problems)


def test_checker_sees_every_kind_of_import(tmp_path):
    """The checker itself: lazy, aliased, ``from`` and relative imports all count, and a
    broken rule is reported with its file and line."""
    package = tmp_path / "keras_sb"
    (package / "models").mkdir(parents=True)
    (package / "training").mkdir()
    for path in ("__init__.py", "export.py", "models/__init__.py", "models/objectives.py",
                 "training/__init__.py"):
        (package / path).write_text("")
    (package / "models" / "backbones.py").write_text(textwrap.dedent("""\
        import os

        import keras_sb.training.run_folder as folders
        from keras_sb import export
        from . import objectives


        def later():
            from ..training import stage
            from keras_sb.models.objectives import PretextTask
            import keras_sb
            return folders, export, objectives, stage, PretextTask, keras_sb, os
        """))
    (package / "training" / "stage.py").write_text("")
    (package / "training" / "run_folder.py").write_text("")
    modules = modules_on_disk(package)
    assert imports(package / "models" / "backbones.py", "keras_sb.models.backbones",
                   set(modules)) == [
        (3, "keras_sb.training.run_folder"), (4, "keras_sb.export"),
        (5, "keras_sb.models.objectives"), (9, "keras_sb.training.stage"),
        (10, "keras_sb.models.objectives"), (11, "keras_sb")]
    markdown = textwrap.dedent(f"""\
        ## {RULES_HEADING}

        | module | owns | must not import |
        | --- | --- | --- |
        | `models/` | models | `training/`, `export.py` |
        | `models/backbones.py` | backbones | `models/objectives.py` |
        """)
    assert violations(rules(markdown), modules, tmp_path) == [
        f"keras_sb/models/backbones.py:{line} imports {name}, but the rule of "
        f"docs/architecture.md says `{spec}` must not import `{other}`"
        for line, name, spec, other in [
            (3, "keras_sb.training.run_folder", "models/", "training/"),
            (4, "keras_sb.export", "models/", "export.py"),
            (5, "keras_sb.models.objectives", "models/backbones.py", "models/objectives.py"),
            (9, "keras_sb.training.stage", "models/", "training/"),
            (10, "keras_sb.models.objectives", "models/backbones.py", "models/objectives.py")]]
