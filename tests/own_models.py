"""Test support: a copy of the repository grown with models of the test's own.

Nothing here reads or names the example table: each test writes the model module it needs
(`add_module`), registers it in `schema/models.py` as the README says, and drives the copy
with `make` as a team would.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import schema
from tests.harness import make


def free_table(stem: str) -> str:
    """A table name no model of the repository has taken."""
    taken = {t.name for t in schema.metadata.tables.values()}
    return next(n for n in (stem, *(f"{stem}_{i}" for i in range(2, 100))) if n not in taken)


def add_module(root: Path, module: str, classes: list[str], source: str) -> None:
    """Write `schema/<module>.py` and register its classes in `schema/models.py`."""
    (root / "schema" / f"{module}.py").write_text(source)
    models = root / "schema" / "models.py"
    text = models.read_text()
    names = exported(text)
    line = f"from schema.{module} import {', '.join(classes)}\n"
    anchor = "from schema.base import Base\n"
    assert anchor in text
    text = text.replace(anchor, anchor + line)
    listed = ", ".join(f'"{n}"' for n in sorted({*names, *classes}))
    text = re.sub(r"__all__ = \[[^\]]*\]", f"__all__ = [{listed}]", text, flags=re.S)
    models.write_text(text)
    # Its import line where ruff's import sorting puts it, as `make format` would.
    ruff = Path(sys.executable).parent / "ruff"
    subprocess.run(
        [str(ruff), "check", "--fix", "--quiet", "--select", "I", str(models)], check=True
    )


def exported(source: str) -> list[str]:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__":
            return list(ast.literal_eval(node.value))
    raise AssertionError("schema/models.py has no __all__")


def revision(root: Path, env: dict[str, str], message: str, docstring: str) -> Path:
    """`make format`, `make revision m=...`, then the docstring written in by hand."""
    formatted = make(root, "format", env)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    path = make_revision(root, env, message)
    write_docstring(path, docstring)
    return path


def edit(path: Path, old: str, new: str) -> None:
    source = path.read_text()
    assert old in source, old
    path.write_text(source.replace(old, new))


def drift_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if " - drift: " in line]


def new_revisions(root: Path, before: set[str]) -> list[Path]:
    return sorted(
        p for p in (root / "migrations" / "versions").glob("*.py") if p.name not in before
    )


def make_revision(root: Path, env: dict[str, str], message: str) -> Path:
    """`make revision m=...`, then the docstring written in place of the placeholder."""
    before = {p.name for p in (root / "migrations" / "versions").glob("*.py")}
    done = make(root, "revision", env, m=message)
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = new_revisions(root, before)
    return path


def write_docstring(path: Path, text: str) -> None:
    source = path.read_text()
    written, count = re.subn(r"<Say what changes and why\..*?>", text, source, flags=re.S)
    assert count == 1, source
    path.write_text(written)


def revision_id(path: Path) -> str:
    return path.stem.split("-", 1)[1].split("_", 1)[0]
