"""Fixtures: one PostgreSQL server per test session, a fresh database per test."""

import atexit
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_alembic.config import Config as AlembicTestConfig
from sqlalchemy import Engine
from sqlalchemy.engine import URL

import schema
from dbtools import devserver
from dbtools.core.options import RunOptions, run_config
from dbtools.core.paths import REPO_ROOT
from dbtools.review import released_template
from dbtools.review.hooks import EVERYTHING
from tests.bytecode import compile_repository, never_write_bytecode
from tests.pg import (
    fresh_database,
    private_basetemp,
    suite_server,
    url_string,
)

# The fixtures services use for databases cloned from a template (schema/pytest_plugin.py).
# tests.figures: what the reliability tests measured, printed at the end of the run.
# pytester: a service's suite using the plugin, run as a service would run it.
pytest_plugins = ["schema.pytest_plugin", "tests.figures", "pytester"]


def pytest_configure(config: pytest.Config) -> None:
    """Temporary files in a directory of this session's own (tests/pg.py says why); the
    repository compiled once, before any worker starts, and no bytecode written by the
    suite (tests/bytecode.py says why)."""
    never_write_bytecode()
    if not hasattr(config, "workerinput"):
        compile_repository()
    basetemp = private_basetemp(config)
    if basetemp is not None:
        config.option.basetemp = str(basetemp)
        # At exit, after the package has stopped the servers (atexit runs last-in first).
        atexit.register(shutil.rmtree, basetemp, ignore_errors=True)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> URL:
    """The URL of the test server's `postgres` database (tests/pg.py `suite_server`)."""

    def remove_at_exit(parent: Path) -> None:
        # After the package has stopped the server (atexit runs last-in first).
        atexit.register(shutil.rmtree, parent, ignore_errors=True)

    return suite_server(lambda: tmp_path_factory.mktemp("pg"), remove_at_exit)


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """Each test leaves the logging set-up as it found it.

    env.py configures logging from alembic.ini (as Alembic's template does) whenever it
    runs in this process (pytest-alembic, the in-process command line); its handlers
    write to the sys.stderr of that moment, a capture that is closed once the test ends.
    Left in place, they make every later test's logging print "--- Logging error ---".
    """
    loggers = [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]
    saved = {logger: (list(logger.handlers), logger.level) for logger in loggers}
    yield
    for logger in [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]:
        handlers, level = saved.get(logger, ([], logging.NOTSET))
        logger.handlers[:] = handlers
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def no_server_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves an embedded server running in a repository copy.

    A copy run without DATABASE_URL starts a development server in its own .pgdata;
    tests must name the test server instead, or stop what they start.
    """
    yield
    tmp_path = request.node.funcargs.get("tmp_path")
    if tmp_path is None:
        return
    left = [d for d in tmp_path.glob("*/.pgdata") if devserver.stop(d)]
    assert not left, f"test left an embedded PostgreSQL running in {left} (stopped it now)"


@pytest.fixture
def rendering_server(server_url: URL, monkeypatch: pytest.MonkeyPatch) -> URL:
    """Artefacts that need a server (schema.sql) render on the suite's server."""
    monkeypatch.setenv("DATABASE_URL", url_string(server_url))
    return server_url


@pytest.fixture
def empty_database_url(server_url: URL) -> Iterator[URL]:
    """A new, empty database for this test alone, dropped afterwards."""
    with fresh_database(server_url) as url:
        yield url


@pytest.fixture
def database_url(empty_database_url: URL) -> URL:
    """This test's database: empty, unless its module starts it at the released tip
    (`database_at_release`)."""
    return empty_database_url


@pytest.fixture
def database_at_release(server_url: URL) -> Iterator[URL]:
    """A new database at the released tip, for a test whose setup needs the chain applied
    but whose subject is not that apply: a copy of the kept database of the released
    chain (dbtools/review/released_template.py, built once per server by applying it),
    so the setup costs the same however long the history is. Empty when nothing is
    released yet; the test's own upgrade then applies the chain. Dropped afterwards."""
    kept = released_template.kept_release(server_url)
    with fresh_database(server_url, template=kept.name if kept else None) as url:
        yield url


@pytest.fixture
def engine(database_url: URL) -> Iterator[Engine]:
    eng = schema.make_engine(database_url)
    yield eng
    eng.dispose()


# pytest-alembic: its runner migrates the engine below, a database of the test's own.
@pytest.fixture
def alembic_engine(engine: Engine) -> Engine:
    return engine


@pytest.fixture
def alembic_config() -> AlembicTestConfig:
    # Its tests compare with the models (autogenerate): the review hooks are handed in.
    options = RunOptions(env={}, hooks=EVERYTHING)
    return AlembicTestConfig(
        config_options={
            "file": str(REPO_ROOT / "alembic.ini"),
            "alembic_config": run_config(options),
        }
    )


# The template fixtures make their databases on the suite's own server.
@pytest.fixture(scope="session")
def schema_server_url(server_url: URL) -> URL:
    return server_url
