"""How autogenerate writes an enum value that was added to a model.

`alembic-postgresql-enum` finds the new value; this renders it as one
`ALTER TYPE ... ADD VALUE ... AFTER/BEFORE ...` per value, in the revision as plain SQL a
reviewer reads at a glance. Adding a value rewrites no table and takes only a brief lock
on the type. The position is always spelled out: without it PostgreSQL appends the value,
which Squawk's `require-enum-value-ordering` rule rightly flags, and a value inserted in
the middle of the model's list would land at the end.
"""

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic_postgresql_enum.operations.add_enum_values import AddEnumValuesOp


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
