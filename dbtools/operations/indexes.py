"""`op.create_index_concurrently(...)`: an index built without blocking writes, or not at all.

    op.create_index_concurrently("ix_users_email", "users", ["email"])

Runs `CREATE INDEX CONCURRENTLY IF NOT EXISTS` outside the revision's transaction
(dbtools/operations/outside.py), and makes sure the revision is never recorded with a
broken index:

- before building, an INVALID index of that name (left by an earlier run that failed,
  was cancelled or was killed) is dropped with `DROP INDEX CONCURRENTLY`; a valid one
  means an earlier run built it: nothing to do, so a rerun continues after it, provided
  it is the index this step builds (dbtools/operations/matching.py compares the two as
  `pg_get_indexdef` reports them; another definition under the name fails the step);
- when the build fails, times out or is cancelled, the INVALID index it left is dropped
  before the error goes on (if that drop cannot get its lock, the next run drops it);
- after the build, `pg_index.indisvalid` must be true, or the step fails.

Offline it renders the build and a check that fails the script on an INVALID index.

`op.drop_index_concurrently("ix_users_email", "users")` is its reverse (what autogenerate
writes in the downgrade): `DROP INDEX CONCURRENTLY IF EXISTS`, outside the transaction.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from alembic.operations import MigrateOperation, Operations

from dbtools.core.errors import UserError
from dbtools.operations import matching
from dbtools.operations.declare import operation
from dbtools.operations.outside import Outside, index_valid, outside_transaction, quote

log = logging.getLogger("alembic.env")


class InvalidIndexError(UserError):
    """A concurrent build ended without error but left an INVALID index."""


@operation("create_index_concurrently")
@dataclass(eq=False)
class CreateIndexConcurrentlyOp(MigrateOperation):
    """Build an index CONCURRENTLY, outside the transaction; valid, or dropped again."""

    index_name: str
    table_name: str
    columns: list[Any]
    schema: str | None = field(default=None, kw_only=True)
    unique: bool = field(default=False, kw_only=True)
    kw: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def __post_init__(self) -> None:
        self.columns = list(self.columns)

    def reverse(self) -> "DropIndexConcurrentlyOp":
        return DropIndexConcurrentlyOp(
            self.index_name, self.table_name, schema=self.schema, reverse_of=self
        )


@operation("drop_index_concurrently")
@dataclass(eq=False)
class DropIndexConcurrentlyOp(MigrateOperation):
    """`DROP INDEX CONCURRENTLY IF EXISTS`, outside the transaction: blocks no reads or writes."""

    index_name: str
    table_name: str | None = None
    schema: str | None = field(default=None, kw_only=True)
    # The build it undoes, so that its own reverse can build the index again.
    reverse_of: CreateIndexConcurrentlyOp | None = field(default=None, kw_only=True, repr=False)

    def reverse(self) -> CreateIndexConcurrentlyOp:
        if self.reverse_of is None or self.table_name is None:
            raise ValueError(
                f"drop_index_concurrently({self.index_name!r}) does not know the index's "
                "columns: write its reverse by hand"
            )
        return self.reverse_of


@Operations.implementation_for(CreateIndexConcurrentlyOp)
def _create_index_concurrently(operations: Operations, op: CreateIndexConcurrentlyOp) -> None:
    with outside_transaction(operations, keeps_data=True) as outside:
        build_index(operations, outside, op)


def build_index(operations: Operations, outside: Outside, op: CreateIndexConcurrentlyOp) -> None:
    """The build, with the checks and clean-ups the module docstring describes."""
    args = (op.index_name, op.table_name, op.columns)
    if not outside.concurrently:  # inside a caller's transaction: the plain form
        operations.create_index(*args, schema=op.schema, unique=op.unique, **op.kw)
        return
    if outside.online:
        state = index_valid(operations, op.index_name, op.schema)
        if state is True:
            require_same_index(operations, op)
            log.info("Index %s is already built and valid (an earlier run): kept", op.index_name)
            return
        if state is False:
            log.info("Dropping the INVALID index %s an earlier run left", op.index_name)
            drop_concurrently(operations, op.index_name, op.schema)
    try:
        operations.create_index(
            *args,
            schema=op.schema,
            unique=op.unique,
            postgresql_concurrently=True,
            if_not_exists=True,
            **op.kw,
        )
    except BaseException as exc:
        if outside.online:
            drop_leftover(operations, op.index_name, op.schema, exc)
        raise
    require_valid(operations, outside, op.index_name, op.schema)


@Operations.implementation_for(DropIndexConcurrentlyOp)
def _drop_index_concurrently(operations: Operations, op: DropIndexConcurrentlyOp) -> None:
    with outside_transaction(operations, keeps_data=True) as outside:
        if not outside.concurrently:  # inside a caller's transaction: the plain form
            operations.drop_index(op.index_name, op.table_name, schema=op.schema, if_exists=True)
            return
        drop_concurrently(operations, op.index_name, op.schema)


def require_same_index(operations: Operations, op: CreateIndexConcurrentlyOp) -> None:
    """Fail unless the valid index of the step's name is the one the step builds."""

    def build(name: str, table: str) -> None:  # the step's index, on the empty copy
        operations.create_index(operations.f(name), table, op.columns, unique=op.unique, **op.kw)

    matching.require_same_index(operations, op.index_name, op.table_name, op.schema, build)


def drop_concurrently(operations: Operations, name: str, schema: str | None) -> None:
    operations.drop_index(name, schema=schema, postgresql_concurrently=True, if_exists=True)


def drop_leftover(
    operations: Operations, name: str, schema: str | None, exc: BaseException
) -> None:
    """After a failed build: drop the INVALID index it left, and say so on `exc`."""
    if operations.get_bind().invalidated:  # the connection died with the build
        exc.add_note(
            f"the connection was lost, so the INVALID index {name} the build may have left "
            "could not be checked or dropped; the next run drops it before building again"
        )
        return
    try:
        if index_valid(operations, name, schema) is not False:
            return
        drop_concurrently(operations, name, schema)
    except Exception as failed:  # the build's error is the one to report
        reason = " ".join(str(getattr(failed, "orig", None) or failed).split())
        exc.add_note(
            f"the INVALID index {name} it left could not be dropped yet ({reason}); "
            "the next run drops it before building again"
        )
        return
    exc.add_note(f"the INVALID index {name} it left was dropped")


def require_valid(operations: Operations, outside: Outside, name: str, schema: str | None) -> None:
    """Online: fail unless the index is valid. Offline: the same check, as SQL."""
    if not outside.online:
        bare = quote(operations, name, schema).replace("'", "''")
        operations.execute(_VALID_OR_FAIL.format(literal=f"'{bare}'", bare=bare))
        return
    if index_valid(operations, name, schema) is not True:
        drop_concurrently(operations, name, schema)
        raise InvalidIndexError(
            f"index {name} was built but is INVALID; it was dropped again: run the same "
            "command again"
        )


# Offline, a psql script stops here (ON_ERROR_STOP) rather than record a broken index.
_VALID_OR_FAIL = """DO $$
BEGIN
    IF NOT (SELECT indisvalid FROM pg_index WHERE indexrelid = {literal}::regclass) THEN
        RAISE EXCEPTION 'index {bare} is INVALID: DROP INDEX CONCURRENTLY it, then run again';
    END IF;
END
$$"""
