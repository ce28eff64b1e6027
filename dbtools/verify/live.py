"""Reading the verified database without writing to it.

Every session here is read-only (`default_transaction_read_only`), names itself
`schema-verify` in pg_stat_activity, and reads in one REPEATABLE READ transaction so
all the catalogs come from one moment. A migration holding the migration lock at the
start or the end of the reading means the schema is changing under us: that is said
as such, never reported as drift.

The reading itself (`refuse_if_migrating`, `recorded_revisions`, `read_live`) runs on a
SQLAlchemy connection or a plain psycopg2 one (`dbtools/core/catalog.py`), so a repeated
verify (`dbtools/verify/repeated.py`) reads the same way without loading SQLAlchemy.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dbtools.core import catalog
from dbtools.core.bookkeeping import Bookkeeping, bookkeeping
from dbtools.core.errors import UserError

if TYPE_CHECKING:  # the full path's session; the reading needs no SQLAlchemy
    from sqlalchemy import Connection
    from sqlalchemy.engine import URL

APPLICATION_NAME = "schema-verify"


class MigrationRunning(UserError):
    """Another session holds the migration lock: the schema is being changed right now."""


def connect_options(read_only: bool) -> str:
    """libpq's `options` of a verify session: the pinned search path, read-only or not."""
    from dbtools.core import search_path as pinned_path

    return pinned_path.libpq_options(
        f"-c default_transaction_read_only={'on' if read_only else 'off'}"
    )


@contextmanager
def session(url: "URL", read_only: bool = True) -> "Iterator[Connection]":
    """One connection to `url` for the whole verify (its transactions: `snapshot`).

    Read-only (`default_transaction_read_only`) unless `read_only=False`, which is for the
    template only, whose throwaway changes (`normalise`) are rolled back.
    """
    import schema

    engine = schema.make_engine(
        url,
        isolation_level="REPEATABLE READ",
        connect_args={
            "options": connect_options(read_only),
            "application_name": APPLICATION_NAME,
        },
    )
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@contextmanager
def snapshot(connection: "Connection", schemas: list[str]) -> "Iterator[Connection]":
    """One REPEATABLE READ transaction, rolled back: every catalog read from one moment.

    Its `search_path` is `schemas` (the verified schemas, never `"$user"`): definitions
    read back (`pg_get_viewdef`, ...) are qualified the same way on every database, and
    the printed script sets the same path before its fixes.
    """
    with connection.begin() as transaction:
        set_path(connection, search_path(schemas))
        yield connection
        transaction.rollback()  # nothing was written that should stay


def set_path(connection: catalog.Source, path: str) -> None:
    """The transaction's `search_path` (`SET LOCAL`): gone when it ends."""
    catalog.rows(connection, "SELECT set_config('search_path', %(p)s, true)", {"p": path})


def search_path(schemas: list[str]) -> str:
    from dbtools.verify.fixes import ident

    return ", ".join(ident(s) for s in schemas)


# A bigint advisory key shows in pg_locks as two 32-bit halves (classid, objid), objsubid 1.
_LOCK_HELD = """
SELECT EXISTS (
  SELECT 1 FROM pg_locks
  WHERE locktype = 'advisory' AND granted AND objsubid = 1
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND classid::bigint = %(high)s AND objid::bigint = %(low)s) AS held
"""


def lock_key() -> int:
    from dbtools.apply.lock import MIGRATION_LOCK_KEY

    return MIGRATION_LOCK_KEY


def refuse_if_migrating(connection: catalog.Source, key: int | None = None) -> None:
    """Raise MigrationRunning when a session holds the migration lock (`key`: its number,
    by default the one `dbtools/apply/lock.py` takes)."""
    key = lock_key() if key is None else key
    params = {"high": key >> 32, "low": key & 0xFFFFFFFF}
    if catalog.rows(connection, _LOCK_HELD, params)[0]["held"]:
        raise MigrationRunning(
            "a migration is running on this database (another session holds the migration "
            "lock); nothing was compared: verify again when it has finished"
        )


def recorded_revisions(
    connection: catalog.Source, names: Bookkeeping | None = None
) -> tuple[str, ...]:
    """What the version table holds; empty (base) when there is none yet."""
    # Schema-qualified: no search_path redirects it.
    version = (names or bookkeeping()).qualified_version
    found = catalog.rows(connection, "SELECT to_regclass(%(t)s) AS found", {"t": version})
    if found[0]["found"] is None:
        return ()
    rows = catalog.rows(connection, f"SELECT version_num FROM {version} ORDER BY 1", {})
    return tuple(r["version_num"] for r in rows)


def read_live(
    connection: catalog.Source,
    revisions: tuple[str, ...],
    schemas: list[str],
    names: Bookkeeping | None = None,
    key: int | None = None,
) -> tuple[catalog.Catalog, dict[str, str], str]:
    """The live catalog, the bookkeeping's owners and the migrating role, read inside the
    caller's snapshot between two looks at the migration lock."""
    names = names or bookkeeping()
    refuse_if_migrating(connection, key)
    if recorded_revisions(connection, names) != revisions:
        raise MigrationRunning(
            "a migration ran while verifying (the recorded revision changed); "
            "nothing was compared: verify again"
        )
    owners = catalog.bookkeeping_owners(connection, names)
    role = (
        catalog.migrating_role(connection, schemas, names)
        or owners.get(f"table {names.qualified_version}")
        or catalog.current_user(connection)
    )
    got = catalog.read(connection, schemas, role, names)
    refuse_if_migrating(connection, key)
    return got, owners, role
