"""How autogenerate writes a change to an enum's values.

`alembic-postgresql-enum` finds the change. Values only added are rendered as one
`ALTER TYPE ... ADD VALUE ... AFTER/BEFORE ...` per value, plain SQL a reviewer reads at a
glance: adding a value rewrites no table and takes only a brief lock on the type. The
position is always spelled out: without it PostgreSQL appends the value, which Squawk's
`require-enum-value-ordering` rule rightly flags, and a value inserted in the middle of the
model's list would land at the end.

Any other change (a value removed, renamed, reordered; and the downgrade of an added
value) is rendered as this repository's `op.change_enum_values(...)`
(dbtools/operations/enums.py), with the values before and after and the columns that use
the type: short arguments ruff wraps, no definitions written into the revision (the
views, indexes, CHECKs and defaults around the type are read from the database when it
runs). A value renamed is seen as one removed and one added: the hint printed while the
revision is written says to name it in `renamed={...}` (both directions), which makes it a
catalog-only `ALTER TYPE ... RENAME VALUE`.
"""

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic_postgresql_enum.operations.add_enum_values import AddEnumValuesOp
from alembic_postgresql_enum.operations.sync_enum_values import SyncEnumValuesOp

from dbtools.operations.enums import add_value_statements

__all__ = ["add_value_statements", "rename_hints", "render_added_values", "render_sync"]


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@renderers.dispatch_for(AddEnumValuesOp, replace=True)
def render_added_values(autogen_context: AutogenContext, op: AddEnumValuesOp) -> str:
    prefix = autogen_context.opts.get("alembic_module_prefix", "op.")
    name = op.name if op.schema in (None, "public") else f"{op.schema}.{op.name}"
    statements = add_value_statements(name, list(op.old_values), list(op.new_values))
    return "\n".join(f"{prefix}execute({statement!r})" for statement in statements)


def column_spec(reference: object, enum_schema: str | None) -> str:
    """A `TableReference` as `table.column` (`schema.` first when it is another schema's;
    `[]` after for an array of the enum)."""
    schema = getattr(reference, "table_schema", None)
    spec = f"{reference.table_name}.{reference.column_name}"  # type: ignore[attr-defined]
    if schema not in (None, "public", enum_schema):
        spec = f"{schema}.{spec}"
    if str(getattr(reference, "column_type", "")).upper().endswith("ARRAY"):
        spec += "[]"
    return spec


@renderers.dispatch_for(SyncEnumValuesOp, replace=True)
def render_sync(autogen_context: AutogenContext, op: SyncEnumValuesOp) -> str:
    prefix = autogen_context.opts.get("alembic_module_prefix", "op.")
    schema = None if op.schema in (None, "public") else op.schema
    columns = [column_spec(c, schema) for c in op.affected_columns]
    arguments = [
        repr(op.name),
        f"old={list(op.old_values)!r}",
        f"new={list(op.new_values)!r}",
        f"columns={columns!r}",
    ]
    if schema:
        arguments.append(f"schema={schema!r}")
    return f"{prefix}change_enum_values({', '.join(arguments)})"


def rename_hints(op: SyncEnumValuesOp) -> list[str]:
    """A value gone and another new at its place looks like a rename."""
    old, new = list(op.old_values), list(op.new_values)
    if len(old) != len(new):
        return []
    pairs = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    if not pairs or any(a in new or b in old for a, b in pairs):
        return []
    renamed = ", ".join(f"{a!r}: {b!r}" for a, b in pairs)
    back = ", ".join(f"{b!r}: {a!r}" for a, b in pairs)
    return [
        f"enum {op.name}: {', '.join(a for a, _ in pairs)} -> {', '.join(b for _, b in pairs)}: "
        f"looks like a rename; add renamed={{{renamed}}} to op.change_enum_values in the "
        f"upgrade and renamed={{{back}}} in the downgrade (a catalog-only RENAME VALUE "
        "that keeps the rows) instead of rebuilding the type"
    ]
