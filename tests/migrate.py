"""Migrating a test database in-process, the way `make upgrade` / `make downgrade` do,
and reading what it then holds."""

from alembic import command
from sqlalchemy.engine import URL

import schema
from dbtools.core.options import Request, RunOptions, run_config


def migrate_to(url: URL, revision: str, *, down: bool = False) -> None:
    """Upgrade (or, with `down`, downgrade) the database at `url` to `revision`."""
    engine = schema.make_engine(url)
    try:
        with engine.connect() as connection:
            asked = Request("downgrade" if down else "upgrade", revision)
            options = RunOptions(
                env={}, connection=connection, configure_logging=False, request=asked
            )
            cfg = run_config(options)
            (command.downgrade if down else command.upgrade)(cfg, revision)
            connection.commit()
    finally:
        engine.dispose()
