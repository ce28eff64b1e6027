"""Test support: the PostgreSQL server the suite runs against, and databases on it.

By default the suite starts its own throwaway server from the embedded package
(PostgreSQL `TEST_POSTGRES_VERSION`, default 18); `TEST_DATABASE_URL` points it at an
existing server instead, on which it creates and drops databases.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

import schema
from dbtools import devserver
from dbtools.core.catalog import Catalog, describe
from dbtools.core.paths import REPO_ROOT
from schema.testing import create_database, drop_database
from tests.harness import clean_env, cli


def private_basetemp(config: Any) -> Path | None:
    """A base temporary directory for this session alone, outside pytest's shared one.

    Run as root, the embedded servers run as the `pgserver` user, and reach their data
    through /tmp/pytest-of-root, which the package opens for traversal when it starts a
    server. Every pytest session that starts without `--basetemp` (another `make test`,
    a nested suite) sets that directory back to 0700 (pytest keeps it private), and
    from then on the servers of every other session meet "Permission denied": the next
    checkpoint (DROP DATABASE forces one) PANICs and the server is gone. So the suite
    keeps its temporary files (the servers' data, the repository copies) in a directory
    of its own, which no other session touches. None when the caller chose a basetemp,
    and in xdist workers (they get one inside the controller's).
    """
    if config.option.basetemp or hasattr(config, "workerinput"):
        return None
    return Path(tempfile.mkdtemp(prefix="schema-tests-"))


# PostgreSQL's first advice for a server whose data need not survive a crash: keep the data
# in a memory-backed file system (https://www.postgresql.org/docs/current/non-durability.html).
# Here it matters more than the settings below: the suite creates and drops thousands of
# databases, and on ext4, under that churn, each new file waits for the inode allocator
# to step over the recently deleted ones (copying a 100-table template: 250-450 ms on
# disk, 20 ms in memory). Used when the machine has one with room, else the disk.
RAM_DISK = Path("/dev/shm")
RAM_DISK_ROOM = 4 * 2**30  # bytes free it needs: a cluster, its WAL (max_wal_size) and copies


def ram_disk_has_room(ram_disk: Path = RAM_DISK, room: int = RAM_DISK_ROOM) -> bool:
    """Whether `ram_disk` is a directory this process may write in, with `room` bytes free."""
    try:
        free = shutil.disk_usage(ram_disk).free
    except OSError:
        return False
    return os.access(ram_disk, os.W_OK | os.X_OK) and free >= room


def server_data_parent(
    fallback: Path, ram_disk: Path = RAM_DISK, room: int = RAM_DISK_ROOM
) -> Path:
    """A new directory for the test server's data in `ram_disk` when it has room, else
    `fallback`. The caller removes it."""
    if not ram_disk_has_room(ram_disk, room):
        return fallback
    return Path(tempfile.mkdtemp(prefix="schema-tests-pg-", dir=ram_disk))


def given_test_server() -> URL | None:
    """The server TEST_DATABASE_URL names, or None: the suite starts its own."""
    given = os.environ.get("TEST_DATABASE_URL", "").strip()
    return schema.normalise_url(given) if given else None


def start_test_server(data_dir: Path) -> URL:
    """A throwaway embedded server with its data in `data_dir`, not durable."""
    version = int(os.environ.get("TEST_POSTGRES_VERSION", devserver.DEFAULT_VERSION))
    url = devserver.start_server(data_dir, version, keep_running=False)
    without_durability(url)
    return url


def suite_server(
    make_fallback: Callable[[], Path],
    remove_at_exit: Callable[[Path], None],
    ram_disk: Path = RAM_DISK,
    room: int = RAM_DISK_ROOM,
) -> URL:
    """The URL of the server the suite runs against: TEST_DATABASE_URL's, with nothing
    made for it; or a throwaway server of the suite's own, its data in a new directory
    (`server_data_parent`) handed to `remove_at_exit` before the server starts."""
    given = given_test_server()
    if given is not None:
        return given
    parent = server_data_parent(make_fallback(), ram_disk, room)
    remove_at_exit(parent)
    data_dir = parent / "data"
    url = start_test_server(data_dir)
    require_passwords(url, data_dir)
    return url


# A throwaway server's data is deleted when the suite ends, so nothing it writes needs to
# survive a crash of the machine: it does not wait for the disk (PostgreSQL's "non-durable
# settings", https://www.postgresql.org/docs/current/non-durability.html). Locks,
# transactions, timeouts and what the catalog reports are unchanged; only the writes to
# disk are no longer forced.
NON_DURABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def without_durability(url: URL) -> None:
    """Our own embedded test server stops forcing its writes to disk (reloaded now)."""
    engine = admin_engine(url)
    try:
        with engine.connect() as conn:
            for name, value in NON_DURABLE.items():
                conn.execute(text(f"ALTER SYSTEM SET {name} = {value}"))
            conn.execute(text("SELECT pg_reload_conf()"))
    finally:
        engine.dispose()


def admin_engine(server_url: URL) -> Engine:
    return schema.make_engine(server_url, isolation_level="AUTOCOMMIT")


@contextmanager
def fresh_database(server_url: URL, template: str | None = None) -> Iterator[URL]:
    """A new database for the block (empty, or a copy of `template`), dropped afterwards."""
    url = create_database(server_url, prefix="t", template=template)
    try:
        yield url
    finally:
        drop_database(url)


def url_string(url: URL) -> str:
    """The URL as a user would write it in DATABASE_URL (password included)."""
    return url.render_as_string(hide_password=False)


def run_cli(
    args: Sequence[str],
    env: dict[str, str],
    timeout: float = 120,
    cwd: Path = REPO_ROOT,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m dbtools ARGS` as a user would, with exactly `env` on top of a clean base.

    DATABASE_URL and CI from the outer environment are removed, so each test says what
    it runs against.
    """
    return cli(cwd, args, clean_env(**env), timeout=timeout, stdin=stdin)


def require_passwords(server_url: URL, data_dir: Path) -> None:
    """Make the embedded test server check passwords for roles named pw_*.

    The embedded server trusts every local connection, which would make tests of wrong
    and special-character passwords pass vacuously; these roles must authenticate.
    """
    hba = data_dir / "pg_hba.conf"
    rules = "local all /^pw_ scram-sha-256\nhost all /^pw_ 127.0.0.1/32 scram-sha-256\n"
    hba.write_text(rules + hba.read_text())
    engine = admin_engine(server_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_reload_conf()"))
    finally:
        engine.dispose()


def create_password_role(server_url: URL, name: str, password: str) -> None:
    """A role that logs in with `password` and owns a database of the same name."""
    engine = admin_engine(server_url)
    try:
        with engine.connect() as conn:
            quoted = password.replace("'", "''")
            conn.execute(text(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{quoted}'"))
    finally:
        engine.dispose()
    create_database(server_url, name=name, owner=name)


def query(url: URL, sql: str) -> list[tuple]:
    """The rows `sql` returns on the database at `url`."""
    engine = schema.make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def versions(url: URL) -> list[str]:
    """What the version table holds."""
    return [row[0] for row in query(url, "SELECT version_num FROM alembic_version")]


def catalog(target: URL | Engine) -> Catalog:
    """What the database holds (`dbtools.core.catalog`, the reader `make verify` uses).

    Every test that compares two routes compares two of these with `differences`.
    """
    engine = schema.make_engine(target) if isinstance(target, URL) else target
    try:
        with engine.connect() as conn:
            return describe(conn)
    finally:
        if engine is not target:
            engine.dispose()


def column(url: URL, sql: str) -> list:
    """The first column of what `sql` returns on the database at `url`."""
    return [row[0] for row in query(url, sql)]
