"""The advisory lock that lets only one migration run at a time on a database.

Two pipelines that start together would otherwise both read the same current revision
and both try to apply the next one. The lock is session-level, so it spans the separate
transaction of every revision; PostgreSQL drops it if the connection dies.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from dbtools.core.errors import UserError

# The ASCII bytes of "schemarp": a fixed key, easy to spot in pg_locks
# (classid 0x73636865, objid 0x6d617270). Advisory locks are per database.
MIGRATION_LOCK_KEY = 0x736368656D617270
DEFAULT_WAIT_SECONDS = 600.0
_POLL_SECONDS = 0.2

log = logging.getLogger("alembic.env")


@contextmanager
def migration_lock(
    connection: Connection, *, commit: bool, wait_seconds: float = DEFAULT_WAIT_SECONDS
) -> Iterator[None]:
    """Hold the migration lock on `connection` for the duration of the block.

    `commit` says whether this code owns the connection's transactions; a connection
    handed in already inside a transaction is left uncommitted.
    """
    _acquire(connection, commit=commit, wait_seconds=wait_seconds)
    try:
        yield
    finally:
        _release(connection, commit=commit)


def _acquire(connection: Connection, *, commit: bool, wait_seconds: float) -> None:
    # Polling instead of pg_advisory_lock(): the blocking form would be cut short by
    # lock_timeout, and polling lets us say once that we are waiting, and for whom.
    deadline = time.monotonic() + wait_seconds
    said_waiting = False
    while not _try_lock(connection, commit=commit):
        if not said_waiting:
            log.info("Waiting for another migration run on this database to finish ...")
            said_waiting = True
        if time.monotonic() > deadline:
            raise UserError(
                f"another migration run has held the migration lock for over {wait_seconds:.0f}s; "
                "check pg_stat_activity for application_name 'schema-migrations'"
            )
        time.sleep(_POLL_SECONDS)


def _try_lock(connection: Connection, *, commit: bool) -> bool:
    got = connection.execute(
        text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
    ).scalar_one()
    if commit:
        connection.commit()
    return bool(got)


def _release(connection: Connection, *, commit: bool) -> None:
    if connection.closed or connection.invalidated:
        return  # the server released the lock with the session
    if commit and connection.in_transaction():
        connection.rollback()  # a failed revision may have left its transaction open
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    if commit:
        connection.commit()
