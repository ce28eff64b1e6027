"""The names of the bookkeeping the migrations keep beside the schema.

Alembic's version table, and the migration log in a schema of its own: schema
comparisons (autogenerate, pytest-alembic, catalog descriptions, schema.sql) look past
both, so they never read as drift.
"""

VERSION_TABLE = "alembic_version"
LOG_SCHEMA = "migration_audit"
LOG_TABLE = "migration_log"
QUALIFIED_LOG = f"{LOG_SCHEMA}.{LOG_TABLE}"


def is_bookkeeping(name: str | None) -> bool:
    """Whether `name` is the log's schema or table (not part of the models)."""
    return name in (LOG_SCHEMA, LOG_TABLE)
