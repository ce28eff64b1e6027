"""The chain of revisions and the models, as every test reads them.

Nothing here is typed by hand: revision ids come from `migrations/versions` (through
Alembic's `ScriptDirectory`), tables and columns from `schema.metadata`. A team's next
revision or table changes these values, never a test.
"""

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

import schema
from dbtools.core import released
from dbtools.core.paths import alembic_config

SCRIPT = ScriptDirectory.from_config(alembic_config())

# Base first, head last (the repository keeps one head; `make check` sees to it).
SCRIPTS = list(reversed(list(SCRIPT.walk_revisions())))
REVISIONS: list[str] = [script.revision for script in SCRIPTS]
FIRST = REVISIONS[0]
HEAD = REVISIONS[-1]
# Where `make downgrade` (one step back from head) leaves a database.
BEFORE_HEAD = REVISIONS[-2] if len(REVISIONS) > 1 else None

# Revisions migrations/RELEASED does not list yet: a pull request's own. Checks that apply to
# every revision run in full for these, and once for the chain as a whole; a released
# revision is immutable (`make check` names one that changed), so its per-revision case
# ran when it was new and its SQL is kept fresh by its fingerprint.
RELEASED: set[str] = set(released.read())
UNRELEASED: list[str] = [revision for revision in REVISIONS if revision not in RELEASED]

# Every table the models define, and with Alembic's version table what head holds.
TABLES = sorted(schema.metadata.tables)
TABLES_AT_HEAD = sorted(["alembic_version", *TABLES])
# The schemas the models use; a revision may keep tables in others (drift compares only
# these), as the bench's grown copies do.
MODEL_SCHEMAS = {table.schema or "public" for table in schema.metadata.tables.values()}


def in_model_schemas(found: dict[str, set[str]]) -> dict[str, set[str]]:
    """`found` (tables by name, `schema.table` outside `public`) within `MODEL_SCHEMAS`."""
    return {
        table: columns
        for table, columns in found.items()
        if (table.split(".", 1)[0] if "." in table else "public") in MODEL_SCHEMAS
    }


def upgrades(revisions: list[str] = REVISIONS) -> list[tuple[str, str]]:
    """The migration-log rows (direction, revision) of upgrading through `revisions`."""
    return [("upgrade", revision) for revision in revisions]


def message(revision: str) -> str:
    """The first line of a revision's docstring, as Alembic prints it when running it."""
    return SCRIPT.get_revision(revision).doc


def free_column(table: str, stem: str) -> str:
    """`stem`, or `stem_2`, `stem_3`...: a column name the models do not give `table` yet."""
    taken = set(model_columns(table))
    return next(
        name for name in (stem, *(f"{stem}_{n}" for n in range(2, 100))) if name not in taken
    )


def free_table(stem: str) -> str:
    """`stem`, or `stem_2`, `stem_3`...: a table name no model has taken (synthetic
    revisions in a copy create it, whatever tables a team has added)."""
    taken = set(TABLES)
    return next(
        name for name in (stem, *(f"{stem}_{n}" for n in range(2, 100))) if name not in taken
    )


def model_columns(table: str) -> list[str]:
    """The columns the models give `table`, sorted (the database orders them by age)."""
    return sorted(column.name for column in schema.metadata.tables[table].columns)


def revision_file(root: Path, rev: str) -> Path:
    """The file of revision `rev` in the repository (or copy) at `root`, as Alembic finds
    it: any file name a team's template or tool gave it."""
    script = ScriptDirectory.from_config(Config(str(root / "alembic.ini")))
    return Path(script.get_revision(rev).path)
