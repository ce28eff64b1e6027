"""Pytest fixtures giving each test a fresh database at head, cloned from a template.

Enable it in a service's top-level `conftest.py`:

    pytest_plugins = ["schema.pytest_plugin"]

and either set `SCHEMA_TEST_SERVER_URL` (a URL on a PostgreSQL server where the tests
may create databases) or override the `schema_server_url` fixture. Then:

    def test_something(schema_engine): ...        # an engine on a database of its own
    def test_other(schema_database_url): ...      # or just the URL

Only this module imports pytest; `import schema` never does.
"""

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from schema.session import make_engine, normalise_url
from schema.testing import database_at_head, ensure_template

SERVER_URL_VARIABLE = "SCHEMA_TEST_SERVER_URL"


@pytest.fixture(scope="session")
def schema_server_url() -> URL:
    """The server the test databases are made on; override this fixture to choose."""
    raw = os.environ.get(SERVER_URL_VARIABLE, "").strip()
    if not raw:
        pytest.fail(
            f"set {SERVER_URL_VARIABLE} to a PostgreSQL URL where tests may create "
            "databases, or override the schema_server_url fixture",
            pytrace=False,
        )
    return normalise_url(raw)


@pytest.fixture(scope="session")
def schema_template_url(schema_server_url: URL) -> URL:
    """The template database at head, built once per server and schema."""
    return ensure_template(schema_server_url)


@pytest.fixture
def schema_database_url(schema_server_url: URL, schema_template_url: URL) -> Iterator[URL]:
    """A database at head for this test alone, dropped afterwards."""
    with database_at_head(schema_server_url) as url:
        yield url


@pytest.fixture
def schema_engine(schema_database_url: URL) -> Iterator[Engine]:
    """An engine on this test's own database at head."""
    engine = make_engine(schema_database_url)
    yield engine
    engine.dispose()
