"""Handing a URL to a libpq program (psql, pg_dump) without any secret on its command line.

Every user of the machine can read a process's argv (`ps`, /proc/<pid>/cmdline). So a
child gets no connection string at all: the password travels in `PGPASSWORD` (the
environment, readable only by the same user), and every other parameter the URL
carries (host, port, user, database, `sslpassword`, `sslmode`, ...) in a libpq service
file, mode 0600 in a private temporary directory, named by `PGSERVICEFILE` and
`PGSERVICE` and removed when the block ends. Service-file values win over `PGHOST`,
`PGPORT` and the other connection variables of the caller's environment.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL

from dbtools.core.errors import UserError

SERVICE = "dbtools"
# The caller's connection variables: the service file says where to connect instead.
_CONNECTION_VARIABLES = ("PGSERVICE", "PGSERVICEFILE", "PGPASSWORD")


def parameters(url: URL) -> dict[str, str]:
    """The libpq parameters of `url`, the password apart (it goes to PGPASSWORD)."""
    found = {
        "host": url.host,
        "port": str(url.port) if url.port else None,
        "user": url.username,
        "dbname": url.database,
    }
    for key, value in url.query.items():
        if key == "password":
            continue
        found[key] = value if isinstance(value, str) else value[-1]
    return {k: v for k, v in found.items() if v}


def parameters_password(url: URL) -> str | None:
    """A `password` query parameter (the last one, as libpq reads a repeated key)."""
    value = url.query.get("password")
    return value if isinstance(value, str) or value is None else value[-1]


def service_file_text(params: dict[str, str]) -> str:
    """`[dbtools]` and one `key=value` line per parameter, as libpq reads a service file.

    libpq strips the spaces around a line and has no quoting, so a value with a line
    break or leading or trailing spaces cannot be written: refused, never mangled.
    """
    lines = [f"[{SERVICE}]"]
    for key, value in params.items():
        if "\n" in value or "\r" in value or value != value.strip():
            raise UserError(
                f"the URL's {key} has a line break or leading or trailing spaces, which libpq "
                "programs (psql, pg_dump) cannot be handed without a command line: remove them"
            )
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


@contextmanager
def environment(url: URL, base: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """The environment a libpq program connects to `url` with, and no argument needed."""
    child = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if k not in _CONNECTION_VARIABLES
    }
    folder = Path(tempfile.mkdtemp(prefix="dbtools-libpq-"))  # mode 0700
    try:
        service = folder / "pg_service.conf"
        descriptor = os.open(service, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(service_file_text(parameters(url)))
        child |= {"PGSERVICEFILE": str(service), "PGSERVICE": SERVICE}
        child.setdefault("PGCONNECT_TIMEOUT", "5")
        password = url.password or parameters_password(url)
        if password:
            child["PGPASSWORD"] = str(password)
        yield child
    finally:
        shutil.rmtree(folder, ignore_errors=True)
