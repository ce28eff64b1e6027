"""The one way tests (and the bench) run the command line, and read what a run left.

- `cli` runs `python -m dbtools` (or Alembic, or make) as a new process, as a user would;
- `cli_in_process` calls `dbtools.cli.main` in this process, with the environment and the
  output handed in and captured: for a test of what a command does to a database, where a
  new process (about a second of imports) is not what is tested. It runs this checkout's
  code, so it serves the repository itself, never a copy (a copy's code is its own);
- `start` starts a run and returns at once (signals, concurrency);
- `clean_env` is the outer environment without what would make a run depend on the
  shell it was started from.

The chain is read in tests/chain.py, the catalog through dbtools/core/catalog.py.
"""

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import Engine

from dbtools.core.catalog import describe
from dbtools.core.paths import REPO_ROOT

# PYTEST_ADDOPTS: the outer run's options are not an inner pytest's (a suite run with -q
# must not make an inner -v run quiet).
DROPPED = ("DATABASE_URL", "CI", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PYTEST_ADDOPTS")


def clean_env(**extra: str) -> dict[str, str]:
    """The outer environment without DATABASE_URL, CI, make's or pytest's own variables, plus
    `extra`."""
    base = {k: v for k, v in os.environ.items() if k not in DROPPED}
    return {**base, **extra}


def command(args: Sequence[str], tool: str = "dbtools") -> list[str]:
    """The command line for `args` through `tool`: dbtools, alembic, or make (whose
    first argument is the target, the others `REV=`)."""
    if tool == "alembic":
        return [sys.executable, "-m", "alembic", "-c", "alembic.ini", *args]
    if tool == "make":
        target, *rev = args
        return ["make", "-s", target, *(f"REV={r}" for r in rev)]
    return [sys.executable, "-m", "dbtools", *args]


def cli(
    root: Path,
    args: Sequence[str],
    env: dict[str, str],
    *,
    tool: str = "dbtools",
    timeout: float = 300,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`args` through `tool` as a new process in `root`, with exactly `env`."""
    return subprocess.run(
        command(args, tool),
        cwd=root,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def make(root: Path, target: str, env: dict[str, str], **variables: str):
    """`make -s target NAME=value...` in `root`."""
    assignments = [f"{k}={v}" for k, v in variables.items()]
    return subprocess.run(
        ["make", "-s", target, *assignments],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
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


def cli_in_process(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m dbtools args` run by this process on the repository, with exactly `env`
    as its environment, stdout and stderr captured; the same result as `cli`."""
    from dbtools import cli as command_line  # the command line, as `python -m dbtools`

    out, err = io.StringIO(), io.StringIO()
    with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = command_line.main(list(args))
        except SystemExit as exc:  # argparse refusing the arguments
            status = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(list(args), status, out.getvalue(), err.getvalue())


def last_error(done: subprocess.CompletedProcess[str]) -> str:
    """The tool's own last line on stderr (make adds its `make: *** ...` line after it)."""
    lines = [line for line in done.stderr.splitlines() if not line.startswith("make: ")]
    return lines[-1] if lines else ""


def columns(engine: Engine) -> dict[str, set[str]]:
    """Each table's columns, read with the one catalog reader (which leaves the bookkeeping
    out); tables of `public` by their name, others qualified."""
    with engine.connect() as conn:
        keys = describe(conn)["column"]
    found: dict[str, set[str]] = {}
    for key in keys:
        schema_name, table, column = key.split(".", 2)
        found.setdefault(table if schema_name == "public" else f"{schema_name}.{table}", set()).add(
            column
        )
    return found


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ is `env` alone for the duration; the cwd is the repository's."""
    saved, cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(REPO_ROOT)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(cwd)
