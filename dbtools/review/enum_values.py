"""How autogenerate writes an enum value that was added to a model, and a rebuilt enum.

`alembic-postgresql-enum` finds the new value; this renders it as one
`ALTER TYPE ... ADD VALUE ... AFTER/BEFORE ...` per value, in the revision as plain SQL a
reviewer reads at a glance. Adding a value rewrites no table and takes only a brief lock
on the type. The position is always spelled out: without it PostgreSQL appends the value,
which Squawk's `require-enum-value-ordering` rule rightly flags, and a value inserted in
the middle of the model's list would land at the end.

A value removed or renamed rebuilds the type (`op.sync_enum_values`, as
`alembic-postgresql-enum` writes it); the definitions of the indexes it rebuilds around the
type are written as adjacent string literals, so the file keeps within ruff's line length
(ruff never splits a string).
"""

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic_postgresql_enum.operations.add_enum_values import AddEnumValuesOp
from alembic_postgresql_enum.operations.sync_enum_values import (
    SyncEnumValuesOp,
    render_sync_enum_value_op,
)

from dbtools.review.safe_forms import wrapped


def add_value_statements(name: str, old: list[str], new: list[str]) -> list[str]:
    """The statements that turn enum `name` with values `old` into `new` (a superset)."""
    statements = []
    present = list(old)
    for index, value in enumerate(new):
        if value in present:
            continue
        # The neighbour named is already in the type: the previous value, or for a new
        # first value, the old first one.
        where = f"AFTER {quote(new[index - 1])}" if index else f"BEFORE {quote(present[0])}"
        statements.append(f"ALTER TYPE {name} ADD VALUE {quote(value)} {where}")
        present.insert(index, value)
    return statements


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@renderers.dispatch_for(AddEnumValuesOp, replace=True)
def render_added_values(autogen_context: AutogenContext, op: AddEnumValuesOp) -> str:
    prefix = autogen_context.opts.get("alembic_module_prefix", "op.")
    name = op.name if op.schema in (None, "public") else f"{op.schema}.{op.name}"
    statements = add_value_statements(name, list(op.old_values), list(op.new_values))
    return "\n".join(f"{prefix}execute({statement!r})" for statement in statements)


@renderers.dispatch_for(SyncEnumValuesOp, replace=True)
def render_sync(autogen_context: AutogenContext, op: SyncEnumValuesOp) -> str:
    """The package's own rendering, each index definition wrapped to fit a line."""
    text = render_sync_enum_value_op(autogen_context, op)
    for index in op.indexes_to_recreate or []:
        text = text.replace(
            f"definition={index.definition!r},", f"definition={wrapped(index.definition)},"
        )
    return text
