"""The tooling keeps its shape: every module documented, the layering enforced by `make lint`."""

from dbtools.core.paths import REPO_ROOT
from tests.harness import clean_env, last_error, make
from tests.repo_copy import copy_repo

ARCHITECTURE = REPO_ROOT / "docs" / "architecture.md"


def test_every_tooling_module_has_its_line_in_the_architecture_page():
    text = ARCHITECTURE.read_text()
    modules = [
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / "dbtools").rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    ]
    missing = [m for m in modules if f"| `{m}` |" not in text]
    assert not missing, f"add a line for each to docs/architecture.md: {missing}"


def test_an_import_against_the_layers_fails_lint_naming_file_and_line(tmp_path):
    repo = copy_repo(tmp_path)
    paths = repo / "dbtools" / "core" / "paths.py"
    lines = paths.read_text().splitlines()
    paths.write_text("\n".join([*lines, "from dbtools import cli  # noqa: E402,F401", ""]))

    done = make(repo, "lint", clean_env())

    assert done.returncode != 0
    findings = done.stdout.splitlines()
    assert f"dbtools/core/paths.py:{len(lines) + 1}: imports dbtools.cli" in "\n".join(findings)
    assert last_error(done).startswith("error: lint found ")
