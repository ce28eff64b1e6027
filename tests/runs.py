"""Test support for the reliability tests: runs of the command line, and what they leave.

Runs `python -m dbtools` (tests/harness.py: in this process on the repository, as a new
process in a copy with extra revisions, tests/repo_copy.py); checks the error contract of a failed
run (one line, no traceback, no password); reads back the version table, the migration
log and the catalog.
"""

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

import schema
from dbtools.core.bookkeeping import QUALIFIED_LOG as QUALIFIED
from dbtools.core.paths import REPO_ROOT
from tests.harness import clean_env, cli, cli_in_process
from tests.pg import catalog, url_string

# Given to every run whose URL has none: the embedded server trusts local connections and
# ignores it, so each run also proves the password never reaches the output.
SECRET = "s3cr%t p@ss:/#ü"


def with_secret(url: URL) -> URL:
    return url if url.password else url.set(password=SECRET)


def cli_env(url: URL | str, **extra: str) -> dict[str, str]:
    """A clean environment naming `url` (given a password if it has none)."""
    database_url = url if isinstance(url, str) else url_string(with_secret(url))
    return clean_env(DATABASE_URL=database_url, **extra)


def run(
    root: Path, args: Sequence[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m dbtools args` with exactly `env`: in this process on the repository itself
    (what it does to the database is what these tests read, not the start of a process),
    as a new process in a copy."""
    if root == REPO_ROOT:
        return cli_in_process(args, env)
    return cli(root, args, env, timeout=timeout)


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
    return {"catalog": catalog(engine), "versions": versions(engine), "log": log_rows(engine)}


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


def slow_function(name: str, seconds: float, *, immutable: bool = False) -> str:
    """SQL for a text -> text function that sleeps first: a build or backfill that lasts."""
    volatility = "IMMUTABLE " if immutable else ""
    return (
        f"CREATE FUNCTION {name}(value text) RETURNS text {volatility}LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n    PERFORM pg_sleep({seconds});\n    RETURN value;\nEND $$"
    )
