"""Test support for the review tooling: throwaway copies of the repository, `make`, `psql`.

Tests that need extra or unsafe revisions build them in a copy under `tmp_path`, never in
the repository itself. The copy shares the repository's `.venv` (a symlink); file times
are preserved, so `make` sees the venv as up to date and does not reinstall, and so is
the compiled bytecode, so the copy's commands do not compile it again (tests/bytecode.py).
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy.engine import URL

from dbtools import devserver
from dbtools.core import libpq
from dbtools.core.paths import REPO_ROOT
from tests.harness import cli

COPIED = [
    "alembic.ini",
    "migrations",
    "schema",
    "dbtools",
    "Makefile",
    "pyproject.toml",
    ".squawk.toml",
    ".env",
    "requirements.txt",
    "requirements-dev.txt",
    "schema.sql",
    "docs",
    "bench",
]


def copy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.exists():
            shutil.copy2(source, root / name)
    (root / ".venv").symlink_to(REPO_ROOT / ".venv")
    return root


def run(root: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def dbtools(root: Path, args: list[str], env: dict[str, str]):
    return cli(root, args, env)


def write_revision(
    root: Path, rev: str, down: str | None, message: str, upgrade: str, downgrade: str = "pass"
) -> Path:
    """A revision file named to sort after every existing one; bodies are Python lines."""
    path = root / "migrations" / "versions" / f"2099_01_01_{rev[:6]}-{rev}_extra.py"
    lines = [
        f'"""{message}',
        "",
        f"Revision ID: {rev}",
        f"Revises: {down or ''}",
        '"""',
        "",
        "import sqlalchemy as sa" if "sa." in upgrade + downgrade else "",
        "from alembic import op" if "op." in upgrade + downgrade else "",
        "",
        f"revision = {rev!r}",
        f"down_revision = {down!r}",
        "branch_labels = None",
        "depends_on = None",
        "",
        "",
        "def upgrade() -> None:",
        textwrap.indent(textwrap.dedent(upgrade).strip(), "    "),
        "",
        "",
        "def downgrade() -> None:",
        textwrap.indent(textwrap.dedent(downgrade).strip(), "    "),
        "",
    ]
    path.write_text("\n".join(lines))
    # Formatted as Alembic's post-write hook formats real revisions.
    ruff = Path(sys.executable).parent / "ruff"
    subprocess.run([str(ruff), "format", "--quiet", str(path)], check=True)
    subprocess.run([str(ruff), "check", "--fix", "--quiet", "--select", "I", str(path)], check=True)
    return path


def psql(url: URL, sql: str) -> subprocess.CompletedProcess[str]:
    """Run a script with psql as a DBA would: stop at the first error."""
    version = int(os.environ.get("TEST_POSTGRES_VERSION", devserver.DEFAULT_VERSION))
    binary = devserver.bin_dir(version) / "psql"
    with libpq.environment(url.set(drivername="postgresql")) as env:  # no secret in argv
        return subprocess.run(
            [str(binary), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
            input=sql,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )
