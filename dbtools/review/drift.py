"""Do the models and the migrations describe the same schema?

The chain is applied to a scratch database (created on the configured server and
dropped afterwards), then Alembic's autogenerate comparison runs against the models
with the options `env.py` uses. Each difference becomes one line naming the table and
column, worded from the point of view of the fix: what a new revision would have to do.
"""

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL

from dbtools.core.paths import alembic_config
from dbtools.core.scratch import scratch_database
from dbtools.review.autogen_options import compare_options


def drift(server_url: URL) -> list[str]:
    """One line per difference between the models and the migrations at head."""
    with scratch_database(server_url) as connection:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        cfg.attributes["configure_logging"] = False
        command.upgrade(cfg, "heads")
        connection.commit()
        options = compare_options()
        metadata = options.pop("target_metadata")
        context = MigrationContext.configure(connection, opts=options)
        return [describe(diff) for diff in flatten(compare_metadata(context, metadata))]


def flatten(diffs: list[Any]) -> list[tuple[Any, ...]]:
    """Alembic nests column modifications in lists; return plain tuples."""
    flat = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return flat


_ONLY_MODELS = "in the models but no revision creates it"
_ONLY_MIGRATIONS = "in the migrations but not in the models"


def describe(diff: tuple[Any, ...]) -> str:
    """A readable line for one autogenerate difference."""
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        where = _ONLY_MODELS if kind == "add_table" else _ONLY_MIGRATIONS
        return f"table {diff[1].name}: {where}"
    if kind in ("add_column", "remove_column"):
        where = _ONLY_MODELS if kind == "add_column" else _ONLY_MIGRATIONS
        return f"column {diff[2]}.{diff[3].name}: {where}"
    if kind.startswith("modify_") and kind != "modify_table_comment":
        _, _schema, table, column, _info, old, new = diff
        what = kind.removeprefix("modify_").replace("_", " ")
        return f"column {table}.{column}: {what} {old!r} in the migrations, {new!r} in the models"
    if kind == "modify_table_comment":
        return f"table {diff[1].name}: comment differs between the migrations and the models"
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        where = _ONLY_MODELS if kind == "add_index" else _ONLY_MIGRATIONS
        return f"index {index.name} on {index.table.name}: {where}"
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        constraint = diff[1]
        where = _ONLY_MODELS if kind.startswith("add") else _ONLY_MIGRATIONS
        return f"constraint {constraint.name} on {constraint.table.name}: {where}"
    return f"{kind}: {diff[1:]!r}"
