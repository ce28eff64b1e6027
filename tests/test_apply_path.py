"""Applying loads what applying needs, nothing more.

A run that finds the database at its target (the no-op, the commonest run in a deploy)
loads neither the repository's operations (registered just before revision code can run)
nor the downgrade's data-loss watch.

`migrations/env.py` runs `dbtools.apply.environment`; review code (autogenerate options,
revision hooks, offline-SQL shaping) is handed in by whoever needs it. The import-linter
contract in pyproject.toml keeps it so: an import of review code from the apply path
fails `make lint`.
"""

import ast
import json
import subprocess
import sys

from sqlalchemy.engine import URL

from dbtools.core.paths import REPO_ROOT
from tests.chain import HEAD
from tests.harness import make
from tests.pg import versions
from tests.repo_copy import copy_repo
from tests.runs import cli_env

LOADED = """
import json, sys
from dbtools.cli import main
status = main(["upgrade"])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def test_a_no_op_upgrade_loads_no_review_verify_operation_or_consent_module(database_url: URL):
    env = cli_env(database_url)
    first = subprocess.run(
        [sys.executable, "-m", "dbtools", "upgrade"], env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    done = subprocess.run(
        [sys.executable, "-c", LOADED], env=env, capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["status"] == 0
    assert versions(database_url) == [HEAD]
    loaded = [m for m in report["modules"] if m.startswith(("dbtools.review", "dbtools.verify"))]
    assert loaded == [], f"a no-op upgrade loaded {loaded}"
    idle = ("dbtools.operations", "dbtools.apply.consent", "dbtools.apply.losses")
    loaded = [m for m in report["modules"] if m.startswith(idle)]
    assert loaded == [], f"a no-op upgrade loaded {loaded}"
    assert "dbtools.apply.environment" in report["modules"]  # it did run env.py


def test_importing_review_code_from_the_apply_path_fails_make_lint(tmp_path):
    repo = copy_repo(tmp_path)
    environment = repo / "dbtools" / "apply" / "environment.py"
    environment.write_text(
        environment.read_text() + "\nfrom dbtools.review import drift  # noqa: E402, F401\n"
    )
    done = make(repo, "lint", cli_env("postgresql://nobody@127.0.0.1:9/none"))
    assert done.returncode != 0
    assert "dbtools/apply/environment.py" in done.stdout + done.stderr
    assert "dbtools.review" in done.stdout + done.stderr


def test_env_py_runs_only_code_the_layering_contract_sees():
    """migrations/env.py is no package module, so import-linter cannot see it: it may
    import only the apply environment and the core at its top level (review hooks only in
    the branch for Alembic's own CLI, which hands nothing in)."""
    tree = ast.parse((REPO_ROOT / "migrations" / "env.py").read_text())
    top_level = [
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [node])
    ]
    ours = [name for name in top_level if name.split(".")[0] in ("dbtools", "schema")]
    assert ours and all(name.startswith(("dbtools.apply", "dbtools.core")) for name in ours), ours
