"""A repeated `make verify`: the live database against the cached expected catalog.

`python -m dbtools verify` tries this first (`dbtools/__main__.py`), before the command
line loads SQLAlchemy, Alembic or the revision files. It answers only what it can answer
exactly, and otherwise hands over to the full path (`dbtools/verify/command.py`), which
prints the same report either way:

- the cache (`dbtools/verify/cache.py`) holds a record for this key (the chain, the code,
  the packages, the settings, this database) and for the revision the database records;
- libpq reads DATABASE_URL into the very connection parameters the full path connected
  with (`get_dsn_parameters`, compared whole), on a server of the recorded major version;
- the live catalog, read by the one reader (`dbtools/core/catalog.py`) in one read-only
  REPEATABLE READ snapshot with the recorded revision, between two looks at the
  migration lock, equals the expected one, and the bookkeeping belongs to the migrating
  role.

So it prints only `matches revision ...` (or its JSON). A difference, a migration in
flight, a miss, any error at all: `None`, and the full path runs from the start and says
what it finds (a drift with its fixes, or the one-line error). Only Ctrl-C or SIGTERM end
it here, as the command line ends any command.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dbtools.apply import interrupt
from dbtools.core import catalog, settings
from dbtools.core.bookkeeping import Bookkeeping
from dbtools.core.errors import fail
from dbtools.verify import cache, live, report


@dataclass(frozen=True)
class _Resolved(Bookkeeping):
    """The bookkeeping's names as the full path resolved them, quoting included."""

    quoted_version: str = ""

    @property
    def qualified_version(self) -> str:
        return self.quoted_version


def run() -> int | None:
    """The exit status of a repeated verify that matches, or None: the full path decides."""
    try:
        with interrupt.for_command():  # SIGINT/SIGTERM: exit 130/143, as every command
            return _answer()
    except (KeyboardInterrupt, interrupt.Interrupted):
        name = interrupt.command_signal() or "SIGINT"
        fail(interrupt.outside_a_revision(name, "verify"))
        return interrupt.exit_status(name)


def _answer() -> int | None:
    try:
        env = settings.load()
        fmt = report.output_format(env)
        key = cache.key(env)
        found = cache.load(key) if key is not None else None
        outcome = _matching(env, found) if found is not None else None
    except Exception:  # the full path says what went wrong, in its own words
        return None
    if outcome is None:
        return None
    print(f"Database: {outcome.database}", file=sys.stderr)
    print(report.as_json(outcome) if fmt == "json" else report.as_text(outcome))
    return 0


def _matching(env: settings.Env, found: cache.Json) -> report.Outcome | None:
    """The outcome when the live database matches its cached revision, else None."""
    context = found["context"]
    import psycopg2

    connection = psycopg2.connect(**_parameters(env, context))
    try:
        if connection.get_dsn_parameters() != context["dsn"]:
            return None  # not the connection the full path made: let it decide
        connection.set_session(isolation_level="REPEATABLE READ")
        return _compared(connection, context, found["revisions"])
    finally:
        connection.close()


def _parameters(env: settings.Env, context: cache.Json) -> dict[str, Any]:
    """What libpq reads from DATABASE_URL (or the development server's parameters, which
    carry no secret), with what the full path adds: its options, name and timeout."""
    dsn = context["dsn"]
    raw = env.get("DATABASE_URL", "").strip()
    given = cache.libpq_parameters(raw) if raw else {k: dsn[k] for k in _SERVER if k in dsn}
    if given is None:
        raise ValueError("DATABASE_URL is not one libpq reads")
    added = {k: dsn[k] for k in ("options", "application_name")}
    return {"connect_timeout": dsn["connect_timeout"], **given, **added}


_SERVER = ("host", "port", "user", "dbname")


def _compared(connection: Any, context: cache.Json, records: cache.Json) -> report.Outcome | None:
    names = _Resolved(
        version_table=context["bookkeeping"]["version_table"],
        version_schema=context["bookkeeping"]["version_schema"],
        log_schema=context["bookkeeping"]["log_schema"],
        log_table=context["bookkeeping"]["log_table"],
        quoted_version=context["bookkeeping"]["qualified_version"],
    )
    key = context["lock_key"]
    with _snapshot(connection):  # one moment: the revision, then what it should hold
        live.set_path(connection, "public")  # where the version table is looked up first
        live.refuse_if_migrating(connection, key)
        revisions = live.recorded_revisions(connection, names)
        record = records.get(cache.revisions_key(revisions))
        if record is None or record["server_version"] != connection.server_version // 10000:
            return None
        live.set_path(connection, record["search_path"])
        got, owners, role = live.read_live(connection, revisions, record["schemas"], names, key)
    if catalog.differences(record["expected"], cache.as_json(got)):
        return None
    if any(owner != role for owner in owners.values()):
        return None
    return report.Outcome(context["database"], revisions, record["schemas"], record["template"], [])


@contextmanager
def _snapshot(connection: Any) -> Iterator[None]:
    """One REPEATABLE READ transaction on the psycopg2 connection, rolled back."""
    try:
        yield
    finally:
        connection.rollback()
