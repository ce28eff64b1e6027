"""Reading the verified database without writing to it.

Every session here is read-only (`default_transaction_read_only`), names itself
`schema-verify` in pg_stat_activity, and reads in one REPEATABLE READ transaction so
all the catalogs come from one moment. A migration holding the migration lock at the
start or the end of the reading means the schema is changing under us: that is said
as such, never reported as drift.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

import schema
from dbtools.apply.lock import MIGRATION_LOCK_KEY
from dbtools.core import search_path as pinned_path
from dbtools.core.bookkeeping import bookkeeping
from dbtools.core.errors import UserError
from dbtools.verify.fixes import ident

APPLICATION_NAME = "schema-verify"


class MigrationRunning(UserError):
    """Another session holds the migration lock: the schema is being changed right now."""


@contextmanager
def session(url: URL, read_only: bool = True) -> Iterator[Connection]:
    """One connection to `url` for the whole verify (its transactions: `snapshot`).

    Read-only (`default_transaction_read_only`) unless `read_only=False`, which is for the
    template only, whose throwaway changes (`normalise`) are rolled back.
    """
    engine = schema.make_engine(
        url,
        isolation_level="REPEATABLE READ",
        connect_args={
            "options": pinned_path.libpq_options(
                f"-c default_transaction_read_only={'on' if read_only else 'off'}"
            ),
            "application_name": APPLICATION_NAME,
        },
    )
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@contextmanager
def snapshot(connection: Connection, schemas: list[str]) -> Iterator[Connection]:
    """One REPEATABLE READ transaction, rolled back: every catalog read from one moment.

    Its `search_path` is `schemas` (the verified schemas, never `"$user"`): definitions
    read back (`pg_get_viewdef`, ...) are qualified the same way on every database, and
    the printed script sets the same path before its fixes.
    """
    with connection.begin() as transaction:
        path = search_path(schemas)
        connection.execute(text("SELECT set_config('search_path', :p, true)"), {"p": path})
        yield connection
        transaction.rollback()  # nothing was written that should stay


def search_path(schemas: list[str]) -> str:
    return ", ".join(ident(s) for s in schemas)


# A bigint advisory key shows in pg_locks as two 32-bit halves (classid, objid), objsubid 1.
_LOCK_HELD = """
SELECT EXISTS (
  SELECT 1 FROM pg_locks
  WHERE locktype = 'advisory' AND granted AND objsubid = 1
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND classid::bigint = :high AND objid::bigint = :low)
"""


def refuse_if_migrating(connection: Connection) -> None:
    params = {"high": MIGRATION_LOCK_KEY >> 32, "low": MIGRATION_LOCK_KEY & 0xFFFFFFFF}
    if connection.execute(text(_LOCK_HELD), params).scalar_one():
        raise MigrationRunning(
            "a migration is running on this database (another session holds the migration "
            "lock); nothing was compared: verify again when it has finished"
        )


def recorded_revisions(connection: Connection) -> tuple[str, ...]:
    """What the version table holds; empty (base) when there is none yet."""
    version = bookkeeping().qualified_version  # schema-qualified: no search_path redirects it
    exists = connection.execute(text("SELECT to_regclass(:t)"), {"t": version}).scalar()
    if exists is None:
        return ()
    rows = connection.execute(text(f"SELECT version_num FROM {version} ORDER BY 1"))
    return tuple(r[0] for r in rows)
