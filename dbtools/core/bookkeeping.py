"""The bookkeeping the migrations keep beside the schema, in one place.

Alembic's version table (`version_table` / `version_table_schema` in `alembic.ini`'s
`[alembic]` section, default `public.alembic_version`) and the migration log
(`migration_audit.migration_log`). Every reader and writer takes the names from here:
the run (always schema-qualified, so no `search_path` can redirect it), the ownership
check, the log, consent, verify, the catalog descriptions, autogenerate and schema.sql,
which all look past the bookkeeping so it never reads as drift.
"""

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from dbtools.core.paths import alembic_config

if TYPE_CHECKING:  # Alembic and SQLAlchemy load when a name is read or quoted, not at import
    from alembic.config import Config

DEFAULT_VERSION_TABLE = "alembic_version"
DEFAULT_VERSION_SCHEMA = "public"
LOG_SCHEMA = "migration_audit"
LOG_TABLE = "migration_log"
QUALIFIED_LOG = f"{LOG_SCHEMA}.{LOG_TABLE}"


def _quoted(name: str) -> str:
    """`name` as a PostgreSQL identifier (quoted only when it must be)."""
    from sqlalchemy.sql.elements import quoted_name

    return _preparer().quote(quoted_name(name, None))


@cache
def _preparer() -> Any:
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect().identifier_preparer


@dataclass(frozen=True)
class Bookkeeping:
    version_table: str = DEFAULT_VERSION_TABLE
    version_schema: str = DEFAULT_VERSION_SCHEMA
    log_schema: str = LOG_SCHEMA
    log_table: str = LOG_TABLE

    @property
    def qualified_version(self) -> str:
        """`public.alembic_version`, quoted where needed: for SQL and messages."""
        return f"{_quoted(self.version_schema)}.{_quoted(self.version_table)}"

    @property
    def qualified_log(self) -> str:
        return f"{_quoted(self.log_schema)}.{_quoted(self.log_table)}"

    @property
    def tables(self) -> tuple[str, ...]:
        """Both tables, schema-qualified (as they appear in SQL the tooling writes)."""
        return (self.qualified_version, self.qualified_log)

    @property
    def schemas(self) -> tuple[str, ...]:
        """The schemas the bookkeeping lives in."""
        return tuple(dict.fromkeys((self.version_schema, self.log_schema)))

    def is_bookkeeping(self, kind: str, name: str | None, schema: str | None = None) -> bool:
        """Whether the object `kind` (`schema` or `table`) called `name`, in `schema`
        (None: the default, `public`), is bookkeeping rather than part of the models."""
        if kind == "schema":
            return name == self.log_schema
        where = schema or DEFAULT_VERSION_SCHEMA
        return (where, name) in (
            (self.version_schema, self.version_table),
            (self.log_schema, self.log_table),
        )

    def configure_options(self) -> dict[str, str]:
        """What env.py hands Alembic's `configure()`: the version table, schema-qualified."""
        return {"version_table": self.version_table, "version_table_schema": self.version_schema}


def bookkeeping(config: "Config | None" = None) -> Bookkeeping:
    """The bookkeeping names `config` (default: this repository's `alembic.ini`) sets."""
    config = config or alembic_config()
    return Bookkeeping(
        version_table=config.get_main_option("version_table") or DEFAULT_VERSION_TABLE,
        version_schema=config.get_main_option("version_table_schema") or DEFAULT_VERSION_SCHEMA,
    )
