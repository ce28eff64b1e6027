"""Test databases cloned from a template: at head, identical to the migrations' result,
and independent of one another."""

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

import schema
from dbtools.core.catalog import differences
from schema import testing
from tests.migrate import migrate_to
from tests.pg import catalog, column, fresh_database
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
        with engine_a.begin() as conn:
            conn.execute(text("INSERT INTO users (email) VALUES ('only-in-a@example.org')"))
        engine_a.dispose()
        assert emails(b) == []
        assert emails(a) == ["only-in-a@example.org"]
    assert emails(testing.clone_database(server_url, name="after_clones")) == []
    testing.drop_database(server_url.set(database="after_clones"))


# The pytest plugin: two tests, each writing to its database. Whichever runs second
# would see the other's row and table if the databases were shared.
_seen: list[str] = []


def _write_and_check(engine: Engine) -> None:
    with engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass('probe') IS NULL")).scalar_one()
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
        conn.execute(text("CREATE TABLE probe (x int)"))
        conn.execute(text("INSERT INTO users (email) VALUES ('someone@example.org')"))
        _seen.append(conn.execute(text("SELECT current_database()")).scalar_one())
    assert schema.check_revision(engine).at_head


def test_plugin_gives_a_database_at_head(schema_engine: Engine):
    _write_and_check(schema_engine)


def test_plugin_gives_another_database_at_head(schema_engine: Engine):
    _write_and_check(schema_engine)
    assert len(set(_seen)) == len(_seen)


def emails(url: URL) -> list[str]:
    return column(url, "SELECT email FROM users")
