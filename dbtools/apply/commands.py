"""The apply job's commands: upgrade, downgrade, and what the database reports.

Each is a thin wrapper over `alembic.command`, with the settings read once by the
command line handed to `env.py` through the configuration's attributes.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from dbtools.apply import audit, failures
from dbtools.apply.retry import with_lock_retries
from dbtools.core import settings
from dbtools.core.paths import VERSIONS, alembic_config
from dbtools.core.secrets import masked
from dbtools.devserver import database_url
from schema.session import make_engine


def configured(env: settings.Env) -> Config:
    """Alembic's configuration for a run that applies revisions with these settings."""
    cfg = alembic_config()
    cfg.attributes["settings"] = env
    cfg.attributes["apply_only"] = True  # env.py need not load the models
    return cfg


def upgrade(env: settings.Env, rev: str) -> None:
    # Retrying after a lock timeout resumes from the last committed revision.
    with explained_revision_argument():
        with_lock_retries(lambda: command.upgrade(configured(env), rev or "head"), env)


def downgrade(env: settings.Env, rev: str) -> None:
    target = rev or "-1"
    # Consent for data loss is decided inside the run, step by step (dbtools/apply/consent.py).
    with explained_revision_argument():
        command.downgrade(configured(env), target)


def current(env: settings.Env) -> None:
    command.current(configured(env))


def show_audit(env: settings.Env) -> None:
    """The migration log of the configured database: what ran, when, by whom, how long."""
    url = database_url(env)
    print(f"Database: {masked(url)}", file=sys.stderr)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            print(audit.report(connection, VERSIONS))
    finally:
        engine.dispose()


@contextmanager
def explained_revision_argument() -> Iterator[None]:
    """An unknown REV or a downgrade below base, said in the user's terms."""
    try:
        yield
    except CommandError as exc:
        explained = failures.revision_argument(exc)
        if explained is exc:
            raise
        raise explained from exc
