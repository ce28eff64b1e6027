"""Running part of a revision outside its transaction, and reading back what it built.

Some steps cannot run in a transaction (`CREATE INDEX CONCURRENTLY`), or must not hold
the revision's locks while they scan a table (`VALIDATE CONSTRAINT`, a backfill's
batches). `outside_transaction()` commits what the revision did so far (Alembic's
`autocommit_block()`), runs the block with MIGRATION_CONCURRENT_STATEMENT_TIMEOUT instead
of the statement timeout (lock_timeout still bounds every wait for a lock), and puts the
statement timeout back. Offline it renders as `COMMIT;`, the timeout, the statements,
then `BEGIN;` (which `dbtools/review/offline_sql.py` follows with the revision's timeouts again).

When the run happens inside a transaction its caller owns (pytest-alembic's
`test_downgrade_leaves_no_trace` hands one in, and rolls it back), nothing may be
committed: the block then runs inside that transaction, and the operations use their
plain, transactional forms, which build the same schema.

A block that by its nature destroys no data (an index built or dropped, a constraint
validated) says so (`keeps_data=True`): while it runs, the connection carries `KEEPS_DATA`,
and a downgrade's consent (dbtools/apply/consent.py) lets it run once what the step did
inside its transaction has been measured. Any other block (a backfill, an
`autocommit_block()` in a revision) is refused there without ALLOW_DATA_LOSS=1.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic.operations import Operations
from sqlalchemy import text

from dbtools.core import options, settings

KEEPS_DATA = "dbtools.outside_keeps_data"  # a key of the connection's `info`


@dataclass(frozen=True)
class Outside:
    """How the block runs: against a database (online) and outside any transaction."""

    online: bool
    concurrently: bool


def timeouts_of(context: Any) -> settings.Timeouts:
    """The timeouts of this run: those env.py was handed (committed renderings use the
    defaults), else the settings' (the defaults for a context no env.py configured)."""
    handed = options.handed(context.config)
    if handed is None:
        return settings.timeouts({})
    return handed.timeouts or settings.timeouts(handed.env)


def caller_owns_transaction(context: Any) -> bool:
    handed = options.handed(context.config)
    return not context.as_sql and handed is not None and handed.inside_caller_transaction


@contextmanager
def outside_transaction(operations: Operations, *, keeps_data: bool = False) -> Iterator[Outside]:
    """Commit the revision so far, run the block in autocommit mode, begin again.
    `keeps_data`: the block cannot destroy data (index builds and drops, VALIDATE)."""
    context = operations.get_context()
    if caller_owns_transaction(context):
        yield Outside(online=True, concurrently=False)
        return
    timeouts = timeouts_of(context)
    info = operations.get_bind().info if keeps_data and not context.as_sql else {}
    info[KEEPS_DATA] = True  # set before the commit that leaves the transaction
    try:
        with context.autocommit_block():
            operations.execute(f"SET statement_timeout = '{timeouts.concurrent}'")
            yield Outside(online=not context.as_sql, concurrently=True)
            # Restored on success only: a failed run ends its session (a retry starts anew).
            if not context.as_sql:
                operations.execute(f"SET statement_timeout = '{timeouts.statement}'")
    finally:
        info.pop(KEEPS_DATA, None)


def quote(operations: Operations, name: str, schema: str | None = None) -> str:
    """`name` (or `schema.name`) quoted as PostgreSQL needs it."""
    preparer = operations.get_context().dialect.identifier_preparer
    quoted = preparer.quote(name)
    return f"{preparer.quote_schema(schema)}.{quoted}" if schema else quoted


def _regclass(schema: str | None) -> str:
    return (
        "to_regclass(format('%I.%I', :schema, :name))"
        if schema
        else ("to_regclass(format('%I', :name))")
    )


def index_valid(operations: Operations, name: str, schema: str | None = None) -> bool | None:
    """Online: True for a valid index, False for an INVALID one, None when there is none."""
    sql = f"SELECT indisvalid FROM pg_index WHERE indexrelid = {_regclass(schema)}"
    row = operations.get_bind().execute(text(sql), {"name": name, "schema": schema}).first()
    return None if row is None else bool(row[0])


def constraint_validated(
    operations: Operations, table: str, name: str, schema: str | None = None
) -> bool | None:
    """Online: whether the constraint is validated; None when the table has no such one."""
    sql = (
        "SELECT convalidated FROM pg_constraint "
        f"WHERE conrelid = {_regclass(schema)} AND conname = :constraint"
    )
    params = {"name": table, "schema": schema, "constraint": name}
    row = operations.get_bind().execute(text(sql), params).first()
    return None if row is None else bool(row[0])


def column_not_null(
    operations: Operations, table: str, column: str, schema: str | None = None
) -> bool:
    """Online: whether the column is already NOT NULL."""
    sql = (
        "SELECT attnotnull FROM pg_attribute "
        f"WHERE attrelid = {_regclass(schema)} AND attname = :column AND NOT attisdropped"
    )
    params = {"name": table, "schema": schema, "column": column}
    return bool(operations.get_bind().execute(text(sql), params).scalar())
