"""Where the migrations connect, and with which timeouts.

Settings come from the process environment first, then from `.env` in the repository
root. They are read when a function here is first called, never at import, and `.env` is
read once per process: the error handler must never fail again on the same file.
"""

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus

from dotenv import dotenv_values
from dotenv.parser import parse_stream
from sqlalchemy.engine import URL

from dbtools.errors import UserError
from schema.session import UnsupportedURLError, normalise_url

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = REPO_ROOT / ".env"

DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "10min"
_INTERVAL = re.compile(r"^\d+\s*(ms|s|min|h)?$")
_TRUE = {"1", "true", "yes", "on"}


# Query parameters libpq reads as secrets: masked wherever a URL is shown.
SECRET_QUERY_KEYS = ("password", "sslpassword")

_read_files: dict[Path, dict[str, str]] = {}


def settings() -> dict[str, str]:
    """`.env` values overlaid by the process environment (the environment wins)."""
    return {**dotenv_file(ENV_FILE), **os.environ}


def dotenv_file(path: Path) -> dict[str, str]:
    """The values `path` sets, read once per process; {} when it does not exist.

    Values are taken literally (`$` in a password stays). A file that cannot be read or
    decoded, or a line that cannot be parsed, is a `UserError` naming the line, never
    its value: a skipped line would silently change where migrations run.
    """
    if path not in _read_files:
        _read_files[path] = _read_dotenv(path)
    return _read_files[path]


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"{path.name} cannot be read ({reason}): fix its permissions") from None
    except UnicodeDecodeError as exc:
        line = text_line(path.read_bytes(), exc.start)
        raise UserError(f"{path.name} is not UTF-8 text (line {line}): save it as UTF-8") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise UserError(
                f"{path.name} line {binding.original.line} cannot be parsed (an unbalanced quote "
                "or a line that is not NAME=value): fix that line; nothing was run"
            )
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {k: v for k, v in values.items() if v is not None}


def given_urls() -> list[str]:
    """Every DATABASE_URL this process was given, as written, for masking errors.

    Reads nothing: `.env` counts only if it was already read.
    """
    found = [os.environ.get("DATABASE_URL", "")]
    found += [values.get("DATABASE_URL", "") for values in _read_files.values()]
    return [url for url in found if url]


def text_line(data: bytes, offset: int) -> int:
    """The 1-based line number of byte `offset` in `data`."""
    return data.count(b"\n", 0, offset) + 1


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
    """The URL as it may be shown: every password (user info, query) replaced by ***."""
    # A placeholder that survives the URL's percent-encoding, then shown as ***.
    hidden = {k: "MASKED" for k in SECRET_QUERY_KEYS if k in url.query}
    shown = url.update_query_dict(hidden).render_as_string(hide_password=True)
    return re.sub(rf"\b({'|'.join(SECRET_QUERY_KEYS)})=MASKED\b", r"\1=***", shown)


def mask_secret(text: str, *urls: URL | str | None) -> str:
    """`text` with every form of every password the URLs carry replaced by ***."""
    secrets: set[str] = set()
    for url in urls:
        secrets |= url_secrets(url)
    for secret in list(secrets):
        secrets |= {quote(secret, safe=""), quote_plus(secret, safe=""), repr(secret)[1:-1]}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def url_secrets(url: URL | str | None) -> set[str]:
    """The passwords `url` carries: its user info and its password query parameters."""
    if url is None:
        return set()
    if isinstance(url, URL):
        found = {url.password} if url.password else set()
        for key in SECRET_QUERY_KEYS:
            value = url.query.get(key)
            found |= {value} if isinstance(value, str) else set(value or ())
        return {s for s in found if s}
    return _raw_secrets(url)


def _raw_secrets(url: str) -> set[str]:
    """Every password-like part of a URL string, found without trusting its structure.

    A careless URL (an unencoded `@`, `#` or `/` in the password) may be split anywhere,
    so both the widest reading (up to the last `@`) and the narrowest are masked.
    """
    rest = url.split("://", 1)[1] if "://" in url else url
    found: set[str] = set()
    if "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        if ":" in userinfo:
            widest = userinfo.split(":", 1)[1]
            found |= {widest, unquote(widest), *widest.split("@")}
    query = rest.rpartition("?")[2] if "?" in rest else ""
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key.lower() in SECRET_QUERY_KEYS:
            found |= {value, unquote_plus(value)}
    return {s for s in found if s}


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


def timeouts(env: dict[str, str] | None = None) -> Timeouts:
    env = settings() if env is None else env
    lock = env.get("MIGRATION_LOCK_TIMEOUT", "").strip() or DEFAULT_LOCK_TIMEOUT
    statement = env.get("MIGRATION_STATEMENT_TIMEOUT", "").strip() or DEFAULT_STATEMENT_TIMEOUT
    for name, value in (
        ("MIGRATION_LOCK_TIMEOUT", lock),
        ("MIGRATION_STATEMENT_TIMEOUT", statement),
    ):
        if not _INTERVAL.match(value):
            raise UserError(f"{name} must be a duration such as 500ms, 5s or 10min, got {value!r}")
    return Timeouts(lock=lock, statement=statement)
