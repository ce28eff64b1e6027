"""Fresh databases at head for a service's tests, cloned from a template database.

Running the whole chain of migrations for every test is slow and grows with the chain.
Instead, a template database is built once from `schema.sql` (shipped in this package
and proven identical to what the migrations build) and each test gets a copy made by
`CREATE DATABASE ... TEMPLATE`, a file-level copy that costs the same however long the
chain is.

The template's name carries a hash of `schema.sql`, so a long-lived test server keeps
it between runs and a new schema gets a new template. Nothing here imports pytest: the
fixtures are in `schema.pytest_plugin`.
"""

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from schema.session import make_engine, normalise_url

TEMPLATE_PREFIX = "schema_template_"


def schema_sql() -> str:
    """The text of `schema.sql`, the schema at head.

    An installed package carries it inside (the wheel takes the repository's one copy);
    in a checkout of the repository it is read from the root, where it is committed.
    """
    packaged = resources.files("schema").joinpath("schema.sql")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "schema.sql").read_text(encoding="utf-8")


def template_name() -> str:
    digest = hashlib.sha256(schema_sql().encode()).hexdigest()[:16]
    return TEMPLATE_PREFIX + digest


def ensure_template(server_url: str | URL) -> URL:
    """The URL of the template database at head on `server_url`'s server, built if absent.

    `server_url` names any database the user may connect to on a server where it may
    create databases. A half-built template is never visible under the final name: it is
    built under a temporary name and renamed when complete.
    """
    server = normalise_url(server_url)
    name = template_name()
    admin = _admin(server)
    try:
        if not _exists(admin, name):
            _build(admin, server, name)
    finally:
        admin.dispose()
    return server.set(database=name)


def clone_database(server_url: str | URL, *, name: str | None = None) -> URL:
    """A new database at head on `server_url`'s server, copied from the template."""
    template = ensure_template(server_url)
    return create_database(template, name=name, template=template.database)


def create_database(
    server_url: str | URL,
    *,
    name: str | None = None,
    prefix: str = "test",
    template: str | None = None,
    owner: str | None = None,
    strategy: str | None = None,
) -> URL:
    """A new database on `server_url`'s server (empty, or a copy of `template`); its URL.

    The one way this repository makes a database: the package's test helpers, the
    repository's own suite, its tooling and its benchmarks all come here. `strategy` is
    PostgreSQL's copy strategy for a template (WAL_LOG, FILE_COPY).
    """
    server = normalise_url(server_url)
    name = name or f"{prefix}_{uuid.uuid4().hex[:16]}"
    clauses = [
        f'TEMPLATE "{template}"' if template else "",
        f'OWNER "{owner}"' if owner else "",
        f"STRATEGY {strategy}" if strategy else "",
    ]
    _run_admin(server, " ".join([f'CREATE DATABASE "{name}"', *filter(None, clauses)]))
    return server.set(database=name)


def drop_database(url: str | URL) -> None:
    """Drop the database `url` names, disconnecting anyone still connected."""
    url = normalise_url(url)
    _run_admin(url, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


@contextmanager
def database_at_head(server_url: str | URL) -> Iterator[URL]:
    """A fresh database at head for the block, dropped afterwards."""
    with _dropped_afterwards(clone_database(server_url)) as url:
        yield url


@contextmanager
def empty_database(server_url: str | URL, *, prefix: str = "test") -> Iterator[URL]:
    """A new, empty database for the block, dropped afterwards."""
    with _dropped_afterwards(create_database(server_url, prefix=prefix)) as url:
        yield url


@contextmanager
def _dropped_afterwards(url: URL) -> Iterator[URL]:
    try:
        yield url
    finally:
        drop_database(url)


def _admin(url: URL) -> Engine:
    # CREATE / DROP DATABASE cannot run in a transaction, nor while connected to the
    # database in question: connect to the maintenance database `postgres`.
    return make_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _run_admin(url: URL, statement: str) -> None:
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def _exists(admin: Engine, name: str) -> bool:
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        return found.first() is not None


def _build(admin: Engine, server: URL, name: str) -> None:
    building = create_database(server, name=f"{name}_build_{uuid.uuid4().hex[:8]}")
    try:
        _load(building)
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{building.database}" RENAME TO "{name}"'))
    except Exception:
        drop_database(building)
        if not _exists(admin, name):  # another process may have won the race
            raise


def _load(url: URL) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            # The raw cursor, so the `%` a comment or default may hold is not taken for
            # a parameter marker; the whole file runs in one transaction.
            conn.connection.driver_connection.cursor().execute(schema_sql())
    finally:
        engine.dispose()
