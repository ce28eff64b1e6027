"""Test databases cloned from a template: at head, identical to the migrations' result,
and independent of one another."""

import pytest
from sqlalchemy.engine import URL

import schema
from dbtools.core.catalog import differences
from dbtools.core.paths import REPO_ROOT
from schema import testing
from schema.pytest_plugin import SERVER_URL_VARIABLE
from tests import own_table
from tests.migrate import migrate_to
from tests.pg import catalog, column, fresh_database, url_string
from tests.pg import versions as version_rows


def test_a_clone_is_what_the_migrations_build(server_url: URL):
    with fresh_database(server_url) as migrated, testing.database_at_head(server_url) as clone:
        migrate_to(migrated, "head")
        assert differences(catalog(migrated), catalog(clone)) == []
        assert version_rows(clone) == [schema.HEAD_REVISION]
    assert clone.database not in column(server_url, "SELECT datname FROM pg_database")


def test_the_template_is_built_once_and_two_clones_are_independent(server_url: URL):
    template = testing.ensure_template(server_url)
    assert testing.ensure_template(server_url) == template
    assert template.database.startswith(testing.TEMPLATE_PREFIX)
    with testing.database_at_head(server_url) as a, testing.database_at_head(server_url) as b:
        assert a.database != b.database
        engine_a = schema.make_engine(a)
        try:
            # A table of the test's own, with a row, in one clone: neither the other clone
            # nor a clone made afterwards from the template has it.
            with own_table.created(engine_a) as table:
                own_table.insert(engine_a, 1)
                assert column(a, f"SELECT email FROM {table}") == ["p1@example.org"]
                assert relation(b, table) is None
                after = testing.clone_database(server_url, name="after_clones")
                assert relation(after, table) is None
                testing.drop_database(after)
        finally:
            engine_a.dispose()


# The pytest plugin, as a service's suite uses it: two tests, each writing to its database
# and checking it found it empty. Whichever runs second would see the other's row and
# table if the databases were shared, whatever the order.
_SERVICE_TESTS = """
from sqlalchemy import text
import schema

def test_one(schema_engine):
    with schema_engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass('probe') IS NULL")).scalar_one()
        conn.execute(text("CREATE TABLE probe (x int)"))
    assert schema.check_revision(schema_engine).at_head

test_two = test_one
"""


def test_plugin_gives_each_test_its_own_database_at_head(
    pytester: pytest.Pytester, server_url: URL, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(SERVER_URL_VARIABLE, url_string(server_url))
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # the suite runs in a folder of its own
    pytester.makeconftest('pytest_plugins = ["schema.pytest_plugin"]\n')
    pytester.makepyfile(test_service=_SERVICE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=2)
    leftovers = column(server_url, r"SELECT datname FROM pg_database WHERE datname LIKE 'test\_%'")
    assert leftovers == []  # each test's database was dropped after it


def relation(url: URL, name: str) -> str | None:
    """The relation `name` in the database at `url`, None when there is none."""
    [found] = column(url, f"SELECT to_regclass('{name}')::text")
    return found
