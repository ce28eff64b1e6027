"""Settings: the process environment first, then `.env` in the repository root.

`load()` reads them; the command line calls it once per run and hands the result down,
so an error handler never reads `.env` again. Nothing is read at import.
"""

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from dbtools.core import durations
from dbtools.core.errors import UserError
from dbtools.core.paths import ENV_FILE
from dbtools.core.secrets import mask_secret

if TYPE_CHECKING:  # SQLAlchemy loads when a URL is read, not for the other settings
    from sqlalchemy.engine import URL

Env = dict[str, str]

DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "10min"
# Steps outside a transaction (a concurrent index build, a VALIDATE, a batched backfill)
# scan whole tables but block nobody: they get hours, not minutes. lock_timeout still
# bounds every wait for a lock.
DEFAULT_CONCURRENT_STATEMENT_TIMEOUT = "2h"
_TRUE = {"1", "true", "yes", "on"}
_DOTENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def load() -> Env:
    """`.env` values overlaid by the process environment (the environment wins)."""
    return {**read_dotenv(ENV_FILE), **os.environ}


def read_dotenv(path: Path) -> Env:
    """The values `path` sets; {} when it does not exist.

    Values are taken literally (`$` in a password stays). A file that cannot be read or
    decoded, or a line that cannot be parsed, is a `UserError` naming the line, never
    its value: a skipped line would silently change where migrations run.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"{path.name} cannot be read ({reason}): fix its permissions") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{path.name} is not UTF-8 text (line {line}): save it as UTF-8") from None
    for binding in parse_stream(io.StringIO(text)):
        # The binding's text starts with the blank lines before it: count past them.
        raw = binding.original.string
        line = binding.original.line + len(raw) - len(raw.lstrip("\r\n"))
        if binding.error:
            raise UserError(
                f"{path.name} line {line} cannot be parsed (an unbalanced quote "
                "or a line that is not NAME=value): fix that line; nothing was run"
            )
        if binding.key is None:
            continue  # a comment or a blank line
        if binding.value is None:  # `DATABASE_URL` alone would silently mean "unset"
            raise UserError(
                f"{path.name} line {line} has no `=`: write NAME=value (NAME= for an empty "
                "value); nothing was run"
            )
        if not _DOTENV_KEY.fullmatch(binding.key):
            raise UserError(
                f"{path.name} line {line} has an invalid name (letters, digits and _ only, "
                "not starting with a digit, unquoted): fix that line; nothing was run"
            )
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {k: v for k, v in values.items() if v is not None}


def is_true(env: Env, name: str) -> bool:
    """Whether the setting `name` is switched on (1, true, yes or on)."""
    return env.get(name, "").strip().lower() in _TRUE


def is_ci(env: Env) -> bool:
    return is_true(env, "CI")


def configured_url(env: Env) -> "URL | None":
    """The URL named by DATABASE_URL, normalised to psycopg2; None when it is unset.

    Raises `UserError` for a URL of another database, or when a pipeline (CI=true)
    names none.
    """
    from schema.session import UnsupportedURLError, normalise_url

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
    concurrent: str = DEFAULT_CONCURRENT_STATEMENT_TIMEOUT  # outside a transaction

    def sql(self) -> list[str]:
        return [
            f"SET lock_timeout = '{self.lock}';",
            f"SET statement_timeout = '{self.statement}';",
        ]


def timeouts(env: Env) -> Timeouts:
    lock = env.get("MIGRATION_LOCK_TIMEOUT", "").strip() or DEFAULT_LOCK_TIMEOUT
    statement = env.get("MIGRATION_STATEMENT_TIMEOUT", "").strip() or DEFAULT_STATEMENT_TIMEOUT
    concurrent = (
        env.get("MIGRATION_CONCURRENT_STATEMENT_TIMEOUT", "").strip()
        or DEFAULT_CONCURRENT_STATEMENT_TIMEOUT
    )
    # Parsed only to refuse what is not a duration: the text goes to SQL as written.
    durations.parse("MIGRATION_LOCK_TIMEOUT", lock)
    durations.parse("MIGRATION_STATEMENT_TIMEOUT", statement)
    durations.parse("MIGRATION_CONCURRENT_STATEMENT_TIMEOUT", concurrent)
    return Timeouts(lock=lock, statement=statement, concurrent=concurrent)
