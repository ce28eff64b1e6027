"""Test support for runs that need revisions the real chain must never hold.

A test copies the repository (alembic.ini, migrations/, schema/, dbtools/) into its
tmp_path, adds the revisions it needs there, and runs `python -m dbtools` in the copy as
a user would. Also: what a test checks after every failed run (one line, no traceback,
no password) and what it reads back from the database.
"""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

import schema
from dbtools.audit import QUALIFIED
from dbtools.catalog import describe
from dbtools.config import REPO_ROOT
from tests.pg import url_string

HEAD = "409207e4393e"
FIRST = "78593f8e1fa5"

REVISION_TEMPLATE = '''"""{doc}

Revision ID: {rev}
Revises: {parent}
"""

import os  # noqa: F401

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "{rev}"
down_revision = {parent_literal}
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def copy_repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("migrations", "schema", "dbtools"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=ignore)
    for name in ("alembic.ini", ".env"):
        shutil.copy(REPO_ROOT / name, root / name)
    return root


def add_revision(
    root: Path,
    rev: str,
    parent: str | None,
    upgrade: str,
    downgrade: str = "pass",
    doc: str = "A test revision.",
) -> Path:
    """Write a revision file into the copy; bodies are Python lines (indented here)."""

    def body(code: str) -> str:
        return "\n".join("    " + line for line in code.strip().splitlines())

    path = root / "migrations" / "versions" / f"2099_01_01_000000-{rev}_test.py"
    path.write_text(
        REVISION_TEMPLATE.format(
            doc=doc,
            rev=rev,
            parent=parent or "",
            parent_literal=repr(parent),
            upgrade=body(upgrade),
            downgrade=body(downgrade),
        )
    )
    return path


# Given to every run whose URL has none: the embedded server trusts local connections and
# ignores it, so each run also proves the password never reaches the output.
SECRET = "s3cr%t p@ss:/#ü"


def with_secret(url: URL) -> URL:
    return url if url.password else url.set(password=SECRET)


def cli_env(url: URL | str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CI")}
    database_url = url if isinstance(url, str) else url_string(with_secret(url))
    return {**base, "DATABASE_URL": database_url, **extra}


def command(args: Sequence[str], tool: str = "dbtools") -> list[str]:
    """The command line for `args` through `tool`: dbtools, alembic, or make (upgrade only)."""
    if tool == "alembic":
        return [sys.executable, "-m", "alembic", "-c", "alembic.ini", *args]
    if tool == "make":
        command_, *rev = args
        return ["make", "-s", command_, *(f"REV={r}" for r in rev)]
    return [sys.executable, "-m", "dbtools", *args]


def run(
    root: Path, args: Sequence[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(args), cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )


def start(root: Path, args: Sequence[str], env: dict[str, str], tool: str = "dbtools"):
    return subprocess.Popen(
        command(args, tool),
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def error_line(stderr: str, password: str | None = SECRET) -> str:
    """The one `error:` line of a failed run; asserts the error contract on the way."""
    assert "Traceback" not in stderr, stderr
    if password:
        assert password not in stderr, stderr
        assert quote(password, safe="") not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert lines[-1] == errors[0], stderr
    return errors[0]


def versions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar()
        if exists is None:
            return []
        return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]


def log_rows(engine: Engine) -> list[tuple[str, str]]:
    """(direction, revision) of every migration-log row, oldest first."""
    with engine.connect() as conn:
        if conn.execute(text(f"SELECT to_regclass('{QUALIFIED}')")).scalar() is None:
            return []
        sql = f"SELECT direction, revision FROM {QUALIFIED} ORDER BY id"
        return [tuple(r) for r in conn.execute(text(sql))]


def state(engine: Engine) -> dict[str, Any]:
    """Everything a failed run must leave as it was: catalog, versions, log."""
    with engine.connect() as conn:
        catalog = describe(conn)
    return {"catalog": catalog, "versions": versions(engine), "log": log_rows(engine)}


def columns(engine: Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        sql = (
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = :t ORDER BY ordinal_position"
        )
        return [r[0] for r in conn.execute(text(sql), {"t": table})]


def wait_for(engine: Engine, sql: str, timeout: float = 60, **params: Any) -> None:
    """Poll until `sql` returns a true value (e.g. a backend reaches some state)."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(text(sql), params).scalar():
                return
            conn.rollback()
            time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql}")


def engine_for(url: URL) -> Engine:
    return schema.make_engine(url)


MIGRATION_WAITING_FOR_LOCK = """
SELECT count(*) > 0 FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'schema-migrations'
  AND wait_event_type = 'Lock'
"""

ADVISORY_LOCKS = """
SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
WHERE l.locktype = 'advisory' AND d.datname = current_database()
"""
