"""Settings: the process environment first, then `.env` in the repository root.

`load()` reads them; the command line calls it once per run and hands the result down,
so an error handler never reads `.env` again. Nothing is read at import.
"""

import os
from dataclasses import dataclass

from dotenv import dotenv_values
from sqlalchemy.engine import URL

from dbtools.core import durations
from dbtools.core.errors import UserError
from dbtools.core.paths import ENV_FILE
from dbtools.core.secrets import mask_secret
from schema.session import UnsupportedURLError, normalise_url

Env = dict[str, str]

DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "10min"
_TRUE = {"1", "true", "yes", "on"}


def load() -> Env:
    """`.env` values overlaid by the process environment (the environment wins)."""
    from_file = {k: v for k, v in dotenv_values(ENV_FILE).items() if v is not None}
    return {**from_file, **os.environ}


def is_ci(env: Env) -> bool:
    return env.get("CI", "").strip().lower() in _TRUE


def configured_url(env: Env | None = None) -> URL | None:
    """The URL named by DATABASE_URL, normalised to psycopg2; None when it is unset.

    Raises `UserError` for a URL of another database, or when a pipeline (CI=true)
    names none.
    """
    env = load() if env is None else env
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        if is_ci(env):
            raise UserError(
                "DATABASE_URL is not set and CI is true: a pipeline must name its database "
                "(the embedded development server is for local use only)"
            )
        return None
    try:
        return normalise_url(raw)
    except UnsupportedURLError as exc:
        raise UserError(mask_secret(str(exc), raw)) from None


@dataclass(frozen=True)
class Timeouts:
    """The limits every revision's transaction runs with."""

    lock: str
    statement: str

    def sql(self) -> list[str]:
        return [
            f"SET lock_timeout = '{self.lock}';",
            f"SET statement_timeout = '{self.statement}';",
        ]


def timeouts(env: Env | None = None) -> Timeouts:
    env = load() if env is None else env
    lock = env.get("MIGRATION_LOCK_TIMEOUT", "").strip() or DEFAULT_LOCK_TIMEOUT
    statement = env.get("MIGRATION_STATEMENT_TIMEOUT", "").strip() or DEFAULT_STATEMENT_TIMEOUT
    # Parsed only to refuse what is not a duration: the text goes to SQL as written.
    durations.parse("MIGRATION_LOCK_TIMEOUT", lock)
    durations.parse("MIGRATION_STATEMENT_TIMEOUT", statement)
    return Timeouts(lock=lock, statement=statement)
