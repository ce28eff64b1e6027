"""The engine and session helpers services use."""

import pytest
from sqlalchemy import select

import schema
from schema import User
from tests.pg import run_cli, url_string


@pytest.fixture
def migrated_url(database_url):
    assert run_cli(["upgrade"], {"DATABASE_URL": url_string(database_url)}).returncode == 0
    return database_url


def test_session_scope_commits_when_the_block_ends(migrated_url):
    engine = schema.make_engine(url_string(migrated_url))
    factory = schema.make_sessionmaker(engine)

    with schema.session_scope(factory) as session:
        session.add(User(name="Ada", email="ada@example.org", age=36))

    with schema.session_scope(factory) as session:
        stored = session.scalars(select(User)).one()
        assert (stored.id, stored.name, stored.age) == (1, "Ada", 36)
    engine.dispose()


def test_session_scope_rolls_back_when_the_block_raises(migrated_url):
    engine = schema.make_engine(migrated_url)
    factory = schema.make_sessionmaker(engine)

    with pytest.raises(RuntimeError), schema.session_scope(factory) as session:
        session.add(User(name="Grace", email="grace@example.org"))
        session.flush()
        raise RuntimeError("boom")

    with schema.session_scope(factory) as session:
        assert session.scalars(select(User)).all() == []
    engine.dispose()
