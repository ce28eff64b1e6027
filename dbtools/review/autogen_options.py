"""What autogenerate compares, in one place: `env.py` (revision, `alembic check`) and the
drift check (`make check`) use the same options, so they never disagree.

Enum types are compared by `alembic-postgresql-enum` (importing it registers its
comparator): a new enum gets `CREATE TYPE`, values only added become
`ALTER TYPE ... ADD VALUE ... AFTER` (no table rewrite; see enum_values.py), other value
changes (removed, renamed, reordered) rebuild the type, and a type no model uses any more
is dropped (so the downgrade of the revision that created it drops it too).
"""

from typing import Any

import alembic_postgresql_enum
import sqlalchemy as sa

import schema
from dbtools.core.bookkeeping import bookkeeping
from dbtools.review import (
    definitions,
    enum_values,  # noqa: F401  (renders added values with a position)
)
from schema.naming import column_names


def compare_options() -> dict[str, Any]:
    """The `context.configure()` options that decide what autogenerate sees."""
    alembic_postgresql_enum.set_configuration(
        alembic_postgresql_enum.Config(
            # Adding values compares by position too: a value inserted in the middle keeps
            # its place (`ADD VALUE ... AFTER`), as the model lists it.
            ignore_enum_values_order=False,
            detect_enum_values_changes=True,
            drop_unused_enums=True,
        )
    )
    return {
        "target_metadata": schema.metadata,
        "compare_type": True,
        "compare_server_default": True,
        # Other schemas are compared too, but only those the models use: never the
        # bookkeeping's, nor anything else that shares the database.
        "include_schemas": True,
        "include_name": only_the_models_names,
        "include_object": only_what_postgresql_builds,
        # Named CHECK constraints are compared too (Alembic's opt-in plugin); every
        # CHECK here has a name, as the naming convention in schema/base.py demands.
        # Defaults, CHECKs, indexes and foreign keys of the same name are then compared
        # as PostgreSQL normalised them, on a scratch database built from the models
        # (dbtools/review/definitions.py).
        "autogenerate_plugins": [
            "alembic.autogenerate.*",
            "alembic.ext.checkconstraint_byname",
            definitions.register(),
        ],
    }


def only_the_models_names(name: str | None, type_: str, parents: Any) -> bool:
    """The schemas the models use (the default one is None here), minus the bookkeeping."""
    if type_ == "schema":
        used = {t.schema for t in schema.metadata.tables.values()}
        return (name is None or name in used) and not bookkeeping().is_bookkeeping("schema", name)
    return skip_bookkeeping(name, type_, parents)


def skip_bookkeeping(name: str | None, type_: str, parents: Any) -> bool:
    """Autogenerate ignores the bookkeeping: it belongs to env.py, not to the models."""
    if type_ not in ("schema", "table"):
        return True
    return not bookkeeping().is_bookkeeping(type_, name, parents.get("schema_name"))


def only_what_postgresql_builds(
    obj: Any, _name: str | None, type_: str, reflected: bool, _compare_to: Any
) -> bool:
    """Model constructs PostgreSQL never builds are not compared, so they are not drift:
    the CHECK of `Boolean(create_constraint=True)` (a native boolean needs none, and
    SQLAlchemy emits none) and a UNIQUE that repeats the primary key (`unique=True` on
    a key column: PostgreSQL drops it in CREATE TABLE)."""
    if reflected:
        return True
    if type_ == "check_constraint" and getattr(obj, "_type_bound", False):
        columns = [obj.table.c[name] for name in column_names(obj) if name in obj.table.c]
        return not (columns and all(isinstance(c.type, sa.Boolean) for c in columns))
    if type_ == "unique_constraint":
        key = {c.name for c in obj.table.primary_key.columns}
        return {c.name for c in obj.columns} != key
    return True
