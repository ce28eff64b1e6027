"""Where the migrations connect, and with which timeouts.

Settings come from the process environment first, then from `.env` in the repository
root. They are read when a function here is called, never at import.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from dotenv import dotenv_values
from sqlalchemy.engine import URL

from dbtools.errors import UserError
from schema.session import UnsupportedURLError, normalise_url

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = REPO_ROOT / ".env"

DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "10min"
# Steps outside a transaction (a concurrent index build, a VALIDATE, a batched backfill)
# scan whole tables but block nobody: they get hours, not minutes. lock_timeout still
# bounds every wait for a lock.
DEFAULT_CONCURRENT_STATEMENT_TIMEOUT = "2h"
_INTERVAL = re.compile(r"^\d+\s*(ms|s|min|h)?$")
_TRUE = {"1", "true", "yes", "on"}


def settings() -> dict[str, str]:
    """`.env` values overlaid by the process environment (the environment wins)."""
    from_file = {k: v for k, v in dotenv_values(ENV_FILE).items() if v is not None}
    return {**from_file, **os.environ}


def is_ci(env: dict[str, str]) -> bool:
    return env.get("CI", "").strip().lower() in _TRUE


def configured_url(env: dict[str, str] | None = None) -> URL | None:
    """The URL named by DATABASE_URL, normalised to psycopg2; None when it is unset.

    Raises `UserError` for a URL of another database, or when a pipeline (CI=true)
    names none.
    """
    env = settings() if env is None else env
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


def database_url(env: dict[str, str] | None = None) -> URL:
    """The URL to migrate: DATABASE_URL, or else the embedded development server."""
    url = configured_url(env)
    if url is not None:
        return url
    from dbtools import devserver  # imported late: only local runs need the package

    return devserver.ensure_running()


def masked(url: URL) -> str:
    """The URL as it may be shown: the password replaced by ***."""
    return url.render_as_string(hide_password=True)


def mask_secret(text: str, url: URL | str | None) -> str:
    """`text` with any form of the URL's password removed."""
    if url is None:
        return text
    if isinstance(url, str):
        password = _raw_password(url)
        secrets = {password} if password else set()
    else:
        secrets = {url.password} if url.password else set()
    for secret in list(secrets):
        secrets.add(quote(secret, safe=""))
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _raw_password(url: str) -> str | None:
    """The password part of a URL string, found without parsing it as a database URL."""
    match = re.match(r"^[^:/]*://[^:@/]*:([^@]*)@", url)
    if not match or not match.group(1):
        return None
    return unquote(match.group(1))


@dataclass(frozen=True)
class Timeouts:
    """The limits every revision's transaction runs with."""

    lock: str
    statement: str
    concurrent: str = DEFAULT_CONCURRENT_STATEMENT_TIMEOUT  # outside a transaction

    def sql(self) -> list[str]:
        return [
            f"SET lock_timeout = '{self.lock}';",
            f"SET statement_timeout = '{self.statement}';",
        ]


def timeouts(env: dict[str, str] | None = None) -> Timeouts:
    env = settings() if env is None else env
    lock = env.get("MIGRATION_LOCK_TIMEOUT", "").strip() or DEFAULT_LOCK_TIMEOUT
    statement = env.get("MIGRATION_STATEMENT_TIMEOUT", "").strip() or DEFAULT_STATEMENT_TIMEOUT
    concurrent = (
        env.get("MIGRATION_CONCURRENT_STATEMENT_TIMEOUT", "").strip()
        or DEFAULT_CONCURRENT_STATEMENT_TIMEOUT
    )
    for name, value in (
        ("MIGRATION_LOCK_TIMEOUT", lock),
        ("MIGRATION_STATEMENT_TIMEOUT", statement),
        ("MIGRATION_CONCURRENT_STATEMENT_TIMEOUT", concurrent),
    ):
        if not _INTERVAL.match(value):
            raise UserError(f"{name} must be a duration such as 500ms, 5s or 10min, got {value!r}")
    return Timeouts(lock=lock, statement=statement, concurrent=concurrent)
