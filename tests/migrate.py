"""Migrating a test database in-process, the way `make upgrade` / `make downgrade` do,
and reading what it then holds."""

from typing import Any

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import URL

import schema
from dbtools.catalog import describe
from dbtools.cli import alembic_config


def migrate_to(url: URL, revision: str, *, down: bool = False) -> None:
    """Upgrade (or, with `down`, downgrade) the database at `url` to `revision`."""
    engine = schema.make_engine(url)
    try:
        with engine.connect() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            cfg.attributes["configure_logging"] = False
            (command.downgrade if down else command.upgrade)(cfg, revision)
            connection.commit()
    finally:
        engine.dispose()


def column(url: URL, sql: str) -> list[Any]:
    """The first column of what `sql` returns on the database at `url`."""
    engine = schema.make_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql)).scalars())
    finally:
        engine.dispose()


def version_rows(url: URL) -> list[str]:
    return column(url, "SELECT version_num FROM alembic_version")


def catalog(url: URL) -> dict[str, Any]:
    engine = schema.make_engine(url)
    try:
        with engine.connect() as connection:
            return describe(connection)
    finally:
        engine.dispose()
