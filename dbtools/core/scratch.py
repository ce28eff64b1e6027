"""A scratch database: made for one job (autogenerate, drift, snapshot), then dropped."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from dbtools.core import search_path
from schema.session import make_engine
from schema.testing import create_database, drop_database


@contextmanager
def scratch_database(server_url: URL, template: str | None = None) -> Iterator[Connection]:
    """A connection to a new database on `server_url`'s server, dropped afterwards: empty,
    or a copy of the database `template`."""
    url = create_database(server_url, prefix="scratch", template=template)
    try:
        engine = make_engine(url, poolclass=NullPool, connect_args=search_path.connect_args(url))
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()
    finally:
        drop_database(url)
