"""The apply job's commands: upgrade, downgrade, and what the database reports.

Each is a thin wrapper over `alembic.command`, with the settings read once by the
command line handed to `env.py` in the run's options (`dbtools.core.options`).
"""

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy.engine import URL

from dbtools.apply import audit, failures
from dbtools.apply.failures import LockTimeoutError
from dbtools.apply.retry import after_lock_timeout, retry_policy
from dbtools.core import search_path, settings
from dbtools.core.options import Request, RunOptions, run_config
from dbtools.core.paths import VERSIONS
from schema.session import make_engine


def configured(env: settings.Env, request: Request | None = None) -> Config:
    """Alembic's configuration for a run that applies revisions with these settings
    (no hooks: env.py need not load the models)."""
    return run_config(RunOptions(env=env, request=request))


def upgrade(env: settings.Env, rev: str) -> None:
    # Retrying after a lock timeout resumes from the last committed revision.
    request = Request("upgrade", rev or "head")
    retries, delay = retry_policy(env)
    with explained_revision_argument():
        for attempt in itertools.count(1):
            try:
                command.upgrade(configured(env, request), request.revision)
                return
            except LockTimeoutError as exc:
                delay = after_lock_timeout(exc, attempt, retries, delay)


def downgrade(env: settings.Env, rev: str) -> None:
    # Consent for data loss is decided inside the run, step by step (dbtools/apply/consent.py).
    request = Request("downgrade", rev or "-1")
    with explained_revision_argument():
        command.downgrade(configured(env, request), request.revision)


def current(env: settings.Env) -> None:
    command.current(configured(env))


def audit_report(url: URL) -> str:
    """The migration log of the database at `url`: what ran, when, by whom, how long."""
    engine = make_engine(url, connect_args=search_path.connect_args(url))
    try:
        with engine.connect() as connection:
            return audit.report(connection, VERSIONS)
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
