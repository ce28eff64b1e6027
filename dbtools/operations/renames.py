"""`op.rename_column(...)`: a column renamed with the index and constraint names made from it.

    op.rename_column(
        "widgets",
        "maker_id",
        "made_by_id",
        indexes={"ix_widgets_maker_id": "ix_widgets_made_by_id"},
        constraints={"uq_widgets_maker_id": "uq_widgets_made_by_id"},
    )

The naming convention (schema/naming.py) names indexes, unique constraints and foreign
keys after their columns, so renaming the column alone leaves them under the old name and
`make check` reports drift. This runs `ALTER TABLE ... RENAME COLUMN`, then
`ALTER INDEX ... RENAME TO` for each index and `ALTER TABLE ... RENAME CONSTRAINT` for each
constraint (a unique constraint's index follows its constraint): catalog only, no table
rewritten or read, a brief `ACCESS EXCLUSIVE` lock on the table. `make revision` prints the
call, names filled in, when a column looks renamed (dbtools/review/drift.py). Its reverse
(the downgrade) renames everything back.

Squawk's `renaming-column` stays a finding (clients that name the column break: waive it
with the release that moved them); in the rendered SQL the renames of the derived names
carry a waiver of `renaming-object` saying they follow the column, so the one change is
one finding, not one per name.
"""

from dataclasses import dataclass, field

from alembic.operations import MigrateOperation, Operations

from dbtools.operations.declare import operation
from dbtools.operations.outside import quote
from dbtools.operations.waivers import IGNORE_PREFIX, WAIVER_PREFIX

FOLLOWS = (
    "named after the column by the naming convention, it follows the column's rename "
    "(the renaming-column finding is the one that breaks clients)"
)


@operation("rename_column")
@dataclass(eq=False)
class RenameColumnOp(MigrateOperation):
    """Rename a column, and the indexes and constraints named after it."""

    table_name: str
    old: str
    new: str
    indexes: dict[str, str] = field(default_factory=dict, kw_only=True)
    constraints: dict[str, str] = field(default_factory=dict, kw_only=True)
    schema: str | None = field(default=None, kw_only=True)

    def reverse(self) -> "RenameColumnOp":
        return RenameColumnOp(
            self.table_name,
            self.new,
            self.old,
            indexes={new: old for old, new in self.indexes.items()},
            constraints={new: old for old, new in self.constraints.items()},
            schema=self.schema,
        )


def statements(operations: Operations, op: RenameColumnOp) -> list[str]:
    table = quote(operations, op.table_name, op.schema)
    found = [
        f"ALTER TABLE {table} RENAME COLUMN {quote(operations, op.old)} "
        f"TO {quote(operations, op.new)}"
    ]
    found += [
        f"ALTER INDEX {quote(operations, old, op.schema)} RENAME TO {quote(operations, new)}"
        for old, new in op.indexes.items()
    ]
    found += [
        f"ALTER TABLE {table} RENAME CONSTRAINT {quote(operations, old)} "
        f"TO {quote(operations, new)}"
        for old, new in op.constraints.items()
    ]
    return found


@Operations.implementation_for(RenameColumnOp)
def _rename_column(operations: Operations, op: RenameColumnOp) -> None:
    context = operations.get_context()
    for number, statement in enumerate(statements(operations, op)):
        if number and context.as_sql:
            context.impl.output_buffer.write(
                f"{WAIVER_PREFIX}{FOLLOWS}\n{IGNORE_PREFIX}renaming-object\n"
            )
        operations.execute(statement)
