"""A scratch database: made for one job (autogenerate, drift, snapshot), then dropped."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from dbtools.core import search_path
from schema.session import make_engine
from schema.testing import empty_database


@contextmanager
def scratch_database(server_url: URL) -> Iterator[Connection]:
    """A connection to a new, empty database on `server_url`'s server, dropped afterwards."""
    with empty_database(server_url, prefix="scratch") as url:
        engine = make_engine(url, poolclass=NullPool, connect_args=search_path.connect_args(url))
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()
