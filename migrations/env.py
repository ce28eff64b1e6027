"""Alembic environment: applies the revisions in `versions/` to PostgreSQL.

Online, it connects to the configured database (or uses the connection handed in through
the run's options, `dbtools.core.options`, as tests do) and runs each revision in its own
transaction, inside the guard of `dbtools.apply.run`: migration lock, timeouts, log,
one-line failures. Offline (`--sql`), it writes the same steps as a script.
"""

import sys
from dataclasses import replace
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, MetaData

import dbtools.operations  # noqa: F401  (registers op.waive_lint, ... for the revisions)
from dbtools.apply.run import MigrationRun, connected
from dbtools.core import options as run_options
from dbtools.core import settings
from dbtools.core.chain import messages
from dbtools.review.autogen_options import compare_options
from dbtools.review.offline_sql import RevisionBlocks
from dbtools.review.revision_hooks import process_revision_directives
from schema.naming import NAMING_CONVENTION

config = context.config
# Alembic's own CLI hands nothing in: the settings are read here, once.
options = run_options.handed(config) or run_options.RunOptions(
    env=settings.load(), hooks=run_options.Hooks(compare=compare_options)
)
run_options.store(config, options)

# disable_existing_loggers=False: running migrations in-process (tests, tooling) must
# not silence everybody else's loggers.
if config.config_file_name is not None and options.configure_logging:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def shared_options() -> dict[str, Any]:
    """The configure() options that offline and online runs have in common."""
    shared = {
        "transaction_per_migration": True,
        "process_revision_directives": process_revision_directives(config),
    }
    # A run that only applies revisions compares nothing with the models: they stay
    # unloaded (set by `make upgrade`/`downgrade`/`current`; Alembic's own CLI loads them).
    # Alembic still names the constraints revisions create by the target's convention.
    if options.apply_only:
        return {**shared, "target_metadata": MetaData(naming_convention=NAMING_CONVENTION)}
    return {**shared, **compare_options()}


def run_migrations_offline() -> None:
    """Write the migration SQL to stdout; logs go to stderr."""
    out = config.output_buffer or sys.stdout
    # Committed renderings pass the default timeouts, so a developer's settings never
    # leak into them.
    timeouts = options.timeouts or settings.timeouts(options.env)
    context.configure(
        dialect_name="postgresql",
        literal_binds=True,
        output_buffer=RevisionBlocks(out, timeouts.sql(), messages(context.script)),
        **shared_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    handed = run_options.connection_of(config, options)
    if isinstance(handed, Connection):
        migrate(handed)
    elif handed is not None:  # an Engine, or anything whose connect() yields a Connection
        with handed.connect() as connection:
            migrate(connection)
    else:
        with connected(options.env) as connection:
            migrate(connection)


def migrate(connection: Connection) -> None:
    # Handed in inside the caller's transaction (pytest-alembic), nothing may commit: the
    # operations that step outside a transaction run their plain forms inside it.
    inside = connection.in_transaction()
    run_options.store(config, replace(options, inside_caller_transaction=inside))
    run = MigrationRun(connection, options.env)
    context.configure(
        connection=connection, on_version_apply=run.on_version_apply, **shared_options()
    )
    with run.guarded(context), context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
