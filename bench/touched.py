"""The tables a revision touches, as PostgreSQL reports them.

On a scratch database at the revision before it, the revision runs inside a transaction
the benchmark holds open (env.py runs in a handed-in transaction without committing it);
before that transaction is rolled back, `pg_locks` lists every relation the session has
locked. Each is mapped to its table (an index to the table it indexes), and only tables
that existed before the revision count: a table it creates has no load to stall.
"""

from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, text

import schema
from bench.common import Server
from dbtools.core.bookkeeping import DEFAULT_VERSION_TABLE, LOG_SCHEMA
from dbtools.core.options import RunOptions, run_config

_TABLES = """
SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

_LOCKED = f"""
SELECT DISTINCT format('%I.%I', n.nspname, t.relname), t.oid
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_index i ON i.indexrelid = c.oid
JOIN pg_class t ON t.oid = COALESCE(i.indrelid, c.oid)
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
  AND t.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', '{LOG_SCHEMA}')
  AND t.relname <> '{DEFAULT_VERSION_TABLE}'
ORDER BY 1
"""


def upgrade(root: Path, connection: Any, target: str) -> None:
    """Alembic `upgrade target` through env.py, on a connection we opened."""
    options = RunOptions(env={}, connection=connection, configure_logging=False)
    command.upgrade(run_config(options, root / "alembic.ini"), target)


def database_at(server: Server, root: Path, revision: str | None, name: str) -> str:
    """A new database migrated to `revision` (empty for None), to clone probes from."""
    server.create(name)
    engine = schema.make_engine(server.url_for(name))
    try:
        if revision:
            with engine.connect() as connection:
                upgrade(root, connection, revision)
                connection.commit()
    finally:
        engine.dispose()
    return name


def touched_tables(server: Server, root: Path, at_before: str, target: str) -> list[str]:
    """The tables (`schema.table`) that existed before `target` and that it locks, on a
    clone of `at_before` (a database at the revision before `target`)."""
    name = server.create(f"stall_probe_{target}", template=at_before)
    engine = schema.make_engine(server.url_for(name))
    try:
        with engine.connect() as connection:
            return locked_by(connection, root, target)
    finally:
        engine.dispose()
        server.drop(name)


def locked_by(connection: Connection, root: Path, target: str) -> list[str]:
    """Run `target` in an open transaction on `connection`, read its locks, roll back."""
    existing = {oid for (oid,) in connection.execute(text(_TABLES))}
    try:
        upgrade(root, connection, target)  # the transaction is open: nothing commits
        return [
            qualified for qualified, oid in connection.execute(text(_LOCKED)) if oid in existing
        ]
    finally:
        connection.rollback()
