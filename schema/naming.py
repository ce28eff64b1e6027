"""The naming convention: every index and constraint gets a predictable name.

Autogenerate, revisions and the database then agree on names without anyone typing them
(it is the first convention in Alembic's naming documentation). Kept apart from `Base` so
that applying revisions, which names constraints by it too, need not import the ORM.

A CHECK's name is made by `check_name`, so that what is written is what PostgreSQL keeps:

- `CheckConstraint(..., name="quantity_positive")` on `orders` is `ck_orders_quantity_positive`;
- a name given whole is kept as given, never prefixed twice: one that starts with `ck_` or
  with the table's name and `_` (`runs_lifecycle_stage` on `runs`), in the models and in
  hand-written revisions alike (`op.drop_constraint("ck_runs_status", "runs")`);
- the CHECK a type makes is named after the type (`Enum(..., name="run_kind",
  native_enum=False)` gives `ck_<table>_run_kind`) or, unnamed, after its column
  (`ck_<table>_<column>`); `Boolean(create_constraint=True)` gets none on PostgreSQL,
  whose booleans need none;
- a name over 63 bytes is cut the way PostgreSQL cuts identifiers (at 63 bytes, on a
  character boundary), so the models name it as the catalog does.
"""

from typing import Any

from sqlalchemy import Column
from sqlalchemy.sql.visitors import iterate

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1


def truncated(name: str) -> str:
    """`name` as PostgreSQL stores it: at most 63 bytes, never half a character."""
    raw = name.encode("utf-8")
    if len(raw) <= MAX_IDENTIFIER_BYTES:
        return name
    return raw[:MAX_IDENTIFIER_BYTES].decode("utf-8", errors="ignore")


def check_name(constraint: Any, table: Any) -> str:
    """The `%(ck_constraint_name)s` token: the CHECK's name as the module docstring says."""
    given = constraint.name
    if given is None or not isinstance(given, str) or not given:
        given = "_".join(column_names(constraint)) or "check"
    prefix = f"ck_{table.name}_"
    if given.startswith(("ck_", f"{table.name}_")):
        return truncated(given)
    return truncated(prefix + given)


def column_names(constraint: Any) -> list[str]:
    """The columns a CHECK reads (a type's CHECK names no columns of its own)."""
    names = [c.name for c in getattr(constraint, "columns", [])]
    found = [e.name for e in iterate(constraint.sqltext) if isinstance(e, Column)]
    return list(dict.fromkeys(names or found))


# The token's name contains "constraint_name": SQLAlchemy runs a convention on a name given
# to a constraint only when its template mentions that token.
NAMING_CONVENTION: dict[str, Any] = {
    "ck_constraint_name": check_name,
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "%(ck_constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
