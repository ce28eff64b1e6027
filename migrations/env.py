"""Alembic environment: applies the revisions in `versions/` to PostgreSQL.

Online, it connects to the configured database (or uses the connection handed in through
`config.attributes["connection"]`, as tests do) and runs each revision in its own
transaction, inside the guard of `dbtools.apply.run`: migration lock, timeouts, log,
one-line failures. Offline (`--sql`), it writes the same steps as a script.
"""

import sys
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, MetaData

import dbtools.operations  # noqa: F401  (registers op.waive_lint, ... for the revisions)
from dbtools.apply.run import MigrationRun, connected
from dbtools.core import settings
from dbtools.core.chain import messages
from dbtools.operations.outside import INSIDE_CALLER_TRANSACTION
from dbtools.review.autogen_options import compare_options
from dbtools.review.offline_sql import RevisionBlocks
from dbtools.review.revision_hooks import process_revision_directives
from schema.naming import NAMING_CONVENTION

config = context.config

# disable_existing_loggers=False: running migrations in-process (tests, tooling) must
# not silence everybody else's loggers.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def shared_options() -> dict[str, Any]:
    """The configure() options that offline and online runs have in common."""
    options = {
        "transaction_per_migration": True,
        "process_revision_directives": process_revision_directives(config),
    }
    # A run that only applies revisions compares nothing with the models: they stay
    # unloaded (set by `make upgrade`/`downgrade`/`current`; Alembic's own CLI loads them).
    # Alembic still names the constraints revisions create by the target's convention.
    if config.attributes.get("apply_only"):
        return {**options, "target_metadata": MetaData(naming_convention=NAMING_CONVENTION)}
    return {**options, **compare_options()}


def run_migrations_offline() -> None:
    """Write the migration SQL to stdout; logs go to stderr."""
    out = config.output_buffer or sys.stdout
    # Committed renderings pass the default timeouts, so a developer's settings never
    # leak into them.
    timeouts = config.attributes.get("timeouts") or settings.timeouts(env())
    context.configure(
        dialect_name="postgresql",
        literal_binds=True,
        output_buffer=RevisionBlocks(out, timeouts.sql(), messages(context.script)),
        **shared_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    handed = config.attributes.get("connection")
    if isinstance(handed, Connection):
        migrate(handed)
    elif handed is not None:  # an Engine, or anything whose connect() yields a Connection
        with handed.connect() as connection:
            migrate(connection)
    else:
        with connected(env()) as connection:
            migrate(connection)


def migrate(connection: Connection) -> None:
    # Handed in inside the caller's transaction (pytest-alembic), nothing may commit: the
    # operations that step outside a transaction run their plain forms inside it.
    config.attributes[INSIDE_CALLER_TRANSACTION] = connection.in_transaction()
    run = MigrationRun(connection, env())
    context.configure(
        connection=connection, on_version_apply=run.on_version_apply, **shared_options()
    )
    with run.guarded(context), context.begin_transaction():
        context.run_migrations()


def env() -> settings.Env:
    """The settings the command line read once, or read now (plain `alembic` commands)."""
    return config.attributes.get("settings") or settings.load()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
