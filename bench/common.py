"""What every figure shares: the settings of a run, the throwaway server, timing, statistics."""

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL

import schema
from dbtools import devserver
from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT
from schema import testing

FIGURES = ("stall", "chain", "noop", "testcost", "verify", "history")


@dataclass(frozen=True)
class Settings:
    """How big and how often: the full run, or the quick one CI may use."""

    mode: str
    rows: int  # rows in each table the stall benchmark loads
    runs: int  # repetitions of the cheap measurements (no-op, one test database)
    stall_runs: int  # repetitions of each stall scenario
    chain_lengths: tuple[int, ...]  # synthetic chains, counted in revisions
    chain_runs: int
    before_seconds: float  # load before the revision starts
    after_seconds: float  # load after it must have ended (longer if it overruns)
    writer_rate: int  # transactions per second, over all writer connections
    reader_rate: int
    clients: int  # connections per side (writers, readers)
    test_runs: int  # runs of `make test`; 0 skips it
    history_check_extra: int = 200  # released revisions added for the `make check` figure
    history_test_extra: int = 100  # ... and for the `make test` figure
    history_check_runs: int = 3
    history_test_runs: int = 1
    history_test_selection: str = ""  # pytest arguments limiting the suite (quick mode)
    stall_every_revision: bool = True  # else the first, the head and the unreleased ones
    pg_version: int = devserver.DEFAULT_VERSION
    only: tuple[str, ...] = FIGURES


FULL = Settings(
    mode="full",
    rows=1_000_000,
    runs=7,
    stall_runs=3,
    chain_lengths=(50, 200, 500),
    chain_runs=5,  # each COMMIT waits for an fsync: the disk's noise needs a few runs
    before_seconds=6,
    after_seconds=6,
    writer_rate=200,
    reader_rate=400,
    clients=2,
    test_runs=3,
)

QUICK = replace(
    FULL,
    mode="quick",
    rows=100_000,
    runs=3,
    stall_runs=1,
    chain_lengths=(10, 30),
    chain_runs=1,
    before_seconds=2,
    after_seconds=2,
    writer_rate=100,
    reader_rate=200,
    test_runs=0,
    history_check_extra=3,  # one grown copy serves both figures
    history_test_extra=3,
    history_check_runs=1,
    history_test_selection="tests/test_layout.py",
    stall_every_revision=False,
)


def stats(samples: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of `samples` (seconds or milliseconds, as given)."""
    values = [float(s) for s in samples]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0, "samples": []}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "samples": values,
    }


def repeat(runs: int, measure: Callable[[], float], warmup: bool = False) -> dict[str, Any]:
    """`stats` of `runs` calls of `measure`; a discarded first call warms caches if asked."""
    if warmup:
        measure()
    return stats([measure() for _ in range(runs)])


def run(cmd: Sequence[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure becomes a one-line UserError naming it and its last words."""
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise UserError(
            f"{Path(str(cmd[0])).name} {cmd[1] if len(cmd) > 1 else ''} failed: {last[0]}"
        )
    return result


def timed(cmd: Sequence[str | Path], **kwargs: Any) -> float:
    """Wall time of one command, in seconds."""
    start = time.perf_counter()
    run(cmd, **kwargs)
    return time.perf_counter() - start


# Not handed to a child: the configured database, CI's flag, and the options of the make
# and pytest that started the bench. A `make test PYTEST_ADDOPTS=...` reaches a copy's
# `make test` through MAKEFLAGS, overriding what the bench sets, and a suite whose
# selection includes the bench's own test then runs the bench again, in a copy, forever.
# Nor PYTHONDONTWRITEBYTECODE: a shell that sets it makes every timed command compile the
# repository's modules and every revision file from source at each start (the libraries
# of the floors keep the bytecode pip wrote); a user's shell keeps Python's cache, written
# by a command's first, discarded run.
DROPPED = (
    "DATABASE_URL", "CI", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PYTEST_ADDOPTS",
    "PYTHONDONTWRITEBYTECODE",
)  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child: ours without `DROPPED`, plus `extra`."""
    base = {k: v for k, v in os.environ.items() if k not in DROPPED}
    return {**base, **extra}


def url_string(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@dataclass(frozen=True)
class Server:
    """A throwaway embedded server, reached over its Unix socket."""

    url: URL  # the `postgres` database
    bin: Path  # psql, pgbench, ... of the same version

    def url_for(self, database: str) -> URL:
        return self.url.set(database=database)

    def env_for(self, database: str) -> dict[str, str]:
        """A child environment whose DATABASE_URL is `database` on this server."""
        return clean_env(DATABASE_URL=url_string(self.url_for(database)))

    def libpq(self, database: str) -> list[str]:
        """`-d <URI>` for psql and pgbench (a throwaway server: the password is empty)."""
        uri = self.url_for(database).set(drivername="postgresql")
        return ["-d", url_string(uri)]

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement in autocommit; return its rows (none for DDL)."""
        engine = schema.make_engine(self.url_for(database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                result = conn.execute(text(sql))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def create(self, name: str, template: str | None = None, strategy: str | None = None) -> str:
        """A new database; a copy of `template` when given (STRATEGY as PostgreSQL names it)."""
        testing.create_database(self.url, name=name, template=template, strategy=strategy)
        return name

    def drop(self, name: str) -> None:
        testing.drop_database(self.url_for(name))

    def psql_file(self, database: str, path: Path) -> None:
        run(
            [
                self.bin / "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                *self.libpq(database),
                "-f",
                path,
            ]
        )

    def version(self) -> str:
        return str(self.execute("SHOW server_version")[0][0])


def start_server(data_dir: Path, version: int) -> Server:
    """A new server in `data_dir`, stopped and deleted when this process exits."""
    url = devserver.start_server(data_dir, version, keep_running=False)
    return Server(url=url, bin=devserver.bin_dir(version))


def python() -> str:
    """The interpreter running the benchmark: the repository's .venv under `make bench`."""
    return sys.executable


_REVISION = '''"""{doc} (benchmark only).

Revision ID: {rev}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def write_revision(
    copy: Path,
    filename: str,
    rev: str,
    down: str,
    doc: str,
    upgrade: str,
    downgrade: str = "    pass",
) -> Path:
    """A benchmark-only revision file in a copy's versions folder (never the repository's)."""
    if copy.resolve() == REPO_ROOT.resolve():
        raise UserError("benchmark revisions go into a temporary copy, not the repository")
    path = copy / "migrations" / "versions" / filename
    text_ = _REVISION.format(doc=doc, rev=rev, down=down, upgrade=upgrade, downgrade=downgrade)
    path.write_text(text_)
    return path


def repo_copy(dest: Path) -> Path:
    """A temporary copy of what applying migrations needs; synthetic revisions go there."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("alembic.ini", ".env"):
        if (REPO_ROOT / name).exists():
            shutil.copy2(REPO_ROOT / name, dest / name)
    for name in ("migrations", "schema", "dbtools"):
        shutil.copytree(REPO_ROOT / name, dest / name, ignore=ignore)
    return dest
