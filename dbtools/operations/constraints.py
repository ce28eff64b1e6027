"""Constraints added to a busy table without blocking it for a full scan.

    op.add_foreign_key_not_valid("fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"])
    op.add_check_not_valid("ck_users_age_positive", "users", "age > 0")
    op.validate_constraint("users", "ck_users_age_positive")
    op.set_not_null_safely("users", "nickname")
    op.add_unique_using_index("uq_users_nickname", "users", ["nickname"])

- A foreign key or CHECK is added `NOT VALID` in the revision's transaction (a brief lock,
  no scan), then `VALIDATE CONSTRAINT` runs in a transaction of its own
  (dbtools/operations/outside.py): it scans the table under a lock that lets reads and
  writes through. Afterwards `pg_constraint.convalidated` must be true.
- `SET NOT NULL` goes through `CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE`, then
  `SET NOT NULL` (PostgreSQL 12+ skips its scan when a validated CHECK proves it) and
  the helper CHECK is dropped, in the revision's closing transaction.
- A unique constraint is built as a unique index concurrently, then attached with
  `ADD CONSTRAINT ... UNIQUE USING INDEX` (a brief lock).

Each is idempotent online, so a rerun after a failure in a later step continues: a
constraint that exists is not added again, an index that is valid is kept, provided it
is what the step would build (dbtools/operations/matching.py compares the definitions
PostgreSQL reports; another one under the same name fails the step, naming both).
"""

from dataclasses import dataclass, field
from typing import Any

from alembic.operations import MigrateOperation, Operations, ops

from dbtools.core.errors import UserError
from dbtools.operations import matching
from dbtools.operations.declare import operation
from dbtools.operations.indexes import CreateIndexConcurrentlyOp, build_index
from dbtools.operations.outside import (
    column_not_null,
    constraint_validated,
    outside_transaction,
    quote,
)
from dbtools.operations.waivers import WaiveLintOp

MAX_NAME = 63  # PostgreSQL's identifier limit, in bytes


class ConstraintNotValidatedError(UserError):
    """VALIDATE CONSTRAINT returned, yet the constraint is not marked validated."""


def not_null_check_name(table: str, column: str) -> str:
    """The helper CHECK's name: `ck_<table>_<column>_not_null`, within 63 bytes."""
    return f"ck_{table}_{column}"[: MAX_NAME - len("_not_null")] + "_not_null"


@operation("add_foreign_key_not_valid")
@dataclass(eq=False)
class AddForeignKeyNotValidOp(MigrateOperation):
    """A foreign key added NOT VALID, then validated in a transaction of its own."""

    constraint_name: str
    source_table: str
    referent_table: str
    local_cols: list[str]
    remote_cols: list[str]
    kw: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def __post_init__(self) -> None:
        self.local_cols, self.remote_cols = list(self.local_cols), list(self.remote_cols)

    def reverse(self) -> ops.DropConstraintOp:
        schema = self.kw.get("source_schema")
        return ops.DropConstraintOp(
            self.constraint_name, self.source_table, type_="foreignkey", schema=schema
        )


@Operations.implementation_for(AddForeignKeyNotValidOp)
def _add_foreign_key_not_valid(operations: Operations, op: AddForeignKeyNotValidOp) -> None:
    schema = op.kw.get("source_schema")
    if _exists(operations, op.source_table, op.constraint_name, schema):
        key = matching.ForeignKey(
            local=op.local_cols,
            referent=op.referent_table,
            referent_schema=op.kw.get("referent_schema"),
            remote=op.remote_cols,
            ondelete=op.kw.get("ondelete"),
            onupdate=op.kw.get("onupdate"),
        )
        matching.require_same_foreign_key(
            operations, op.source_table, op.constraint_name, schema, key
        )
    else:
        operations.create_foreign_key(
            op.constraint_name,
            op.source_table,
            op.referent_table,
            op.local_cols,
            op.remote_cols,
            postgresql_not_valid=True,
            **op.kw,
        )
    validate(operations, op.source_table, op.constraint_name, schema)


@operation("add_check_not_valid")
@dataclass(eq=False)
class AddCheckNotValidOp(MigrateOperation):
    """A CHECK added NOT VALID, then validated in a transaction of its own."""

    constraint_name: str
    table_name: str
    condition: Any
    schema: str | None = field(default=None, kw_only=True)

    def reverse(self) -> ops.DropConstraintOp:
        return ops.DropConstraintOp(
            self.constraint_name, self.table_name, type_="check", schema=self.schema
        )


@Operations.implementation_for(AddCheckNotValidOp)
def _add_check_not_valid(operations: Operations, op: AddCheckNotValidOp) -> None:
    add_check(operations, op.table_name, op.constraint_name, op.condition, op.schema)
    validate(operations, op.table_name, op.constraint_name, op.schema)


@operation("validate_constraint")
@dataclass(eq=False)
class ValidateConstraintOp(MigrateOperation):
    """`ALTER TABLE ... VALIDATE CONSTRAINT`, in a transaction of its own."""

    table_name: str
    constraint_name: str
    schema: str | None = field(default=None, kw_only=True)

    def reverse(self) -> MigrateOperation:
        # PostgreSQL has no way back to NOT VALID; the downgrade that drops the constraint
        # is the reverse of the operation that added it.
        raise NotImplementedError(
            f"validate_constraint({self.constraint_name!r}) has no reverse: PostgreSQL cannot "
            "mark a constraint NOT VALID again; drop the constraint in the downgrade instead"
        )


@Operations.implementation_for(ValidateConstraintOp)
def _validate_constraint(operations: Operations, op: ValidateConstraintOp) -> None:
    validate(operations, op.table_name, op.constraint_name, op.schema)


@operation("set_not_null_safely")
@dataclass(eq=False)
class SetNotNullSafelyOp(MigrateOperation):
    """SET NOT NULL through a validated CHECK, so the table is not scanned under a lock."""

    table_name: str
    column_name: str
    schema: str | None = field(default=None, kw_only=True)

    def reverse(self) -> ops.AlterColumnOp:
        # DROP NOT NULL: a brief lock and no scan.
        return ops.AlterColumnOp(
            self.table_name,
            self.column_name,
            schema=self.schema,
            existing_nullable=False,
            modify_nullable=True,
        )


@Operations.implementation_for(SetNotNullSafelyOp)
def _set_not_null_safely(operations: Operations, op: SetNotNullSafelyOp) -> None:
    table, column, schema = op.table_name, op.column_name, op.schema
    check = not_null_check_name(table, column)
    online = not operations.get_context().as_sql
    if not (online and column_not_null(operations, table, column, schema)):
        column_sql = quote(operations, column)
        add_check(operations, table, check, f"{column_sql} IS NOT NULL", schema)
        validate(operations, table, check, schema)
        operations.alter_column(table, column, nullable=False, schema=schema)
    if not online:  # the rendered SQL carries the reason for the linter and the reviewer
        reason = f"{check} only proved {column} NOT NULL for SET NOT NULL, which now holds it"
        operations.invoke(WaiveLintOp(["ban-drop-constraint"], reason))
    operations.drop_constraint(operations.f(check), table, schema=schema, if_exists=True)


@operation("add_unique_using_index")
@dataclass(eq=False)
class AddUniqueUsingIndexOp(MigrateOperation):
    """A unique index built concurrently, then attached as the constraint (USING INDEX)."""

    constraint_name: str
    table_name: str
    columns: list[str]
    schema: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self.columns = list(self.columns)

    def reverse(self) -> ops.DropConstraintOp:
        # Dropping the constraint drops its index: a brief lock, no scan.
        return ops.DropConstraintOp(
            self.constraint_name, self.table_name, type_="unique", schema=self.schema
        )


@Operations.implementation_for(AddUniqueUsingIndexOp)
def _add_unique_using_index(operations: Operations, op: AddUniqueUsingIndexOp) -> None:
    name, table, schema = op.constraint_name, op.table_name, op.schema
    if _exists(operations, table, name, schema):

        def build(constraint: str, on: str) -> None:  # the step's constraint, on the copy
            operations.create_unique_constraint(operations.f(constraint), on, op.columns)

        matching.require_same_constraint(operations, table, name, schema, build)
        return  # an earlier run attached it
    index = CreateIndexConcurrentlyOp(name, table, op.columns, schema=schema, unique=True)
    with outside_transaction(operations, keeps_data=True) as outside:
        build_index(operations, outside, index)
    quoted = quote(operations, name)
    operations.execute(
        f"ALTER TABLE {quote(operations, table, schema)} "
        f"ADD CONSTRAINT {quoted} UNIQUE USING INDEX {quoted}"
    )


def _exists(operations: Operations, table: str, name: str, schema: str | None) -> bool:
    """Online: whether the table has the constraint already. Offline: never assumed."""
    if operations.get_context().as_sql:
        return False
    return constraint_validated(operations, table, name, schema) is not None


def add_check(
    operations: Operations, table: str, name: str, condition: Any, schema: str | None
) -> None:
    """`ADD CONSTRAINT name CHECK (...) NOT VALID`, unless the table has it already
    (the same CHECK: one of the name with another expression fails the step)."""
    if _exists(operations, table, name, schema):

        def build(constraint: str, on: str) -> None:  # the step's CHECK, on the copy
            operations.create_check_constraint(operations.f(constraint), on, condition)

        matching.require_same_constraint(operations, table, name, schema, build)
        return
    operations.create_check_constraint(
        operations.f(name), table, condition, schema=schema, postgresql_not_valid=True
    )


def validate(operations: Operations, table: str, name: str, schema: str | None) -> None:
    """VALIDATE CONSTRAINT outside the revision's transaction; then it must be validated."""
    with outside_transaction(operations, keeps_data=True) as outside:
        operations.execute(
            f"ALTER TABLE {quote(operations, table, schema)} "
            f"VALIDATE CONSTRAINT {quote(operations, name)}"
        )
        if outside.online and constraint_validated(operations, table, name, schema) is not True:
            raise ConstraintNotValidatedError(
                f"constraint {name} on {table} is still NOT VALID after VALIDATE CONSTRAINT"
            )
