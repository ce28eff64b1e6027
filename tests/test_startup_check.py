"""The start-up check: at head, behind, ahead or unversioned, told apart on real databases."""

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

import schema
from schema import RevisionState, SchemaRevisionError, check_revision, require_revision
from schema._revision import HEAD_REVISION, REVISIONS
from tests.migrate import migrate_to

FIRST = REVISIONS[0]


def test_the_package_knows_its_head_without_the_migrations_folder():
    assert schema.HEAD_REVISION == HEAD_REVISION == REVISIONS[-1]
    assert len(REVISIONS) >= 2  # the tests below need an older revision to stand on


def test_an_empty_database_is_unversioned_and_refused(engine: Engine):
    status = check_revision(engine)
    assert status.state is RevisionState.UNVERSIONED
    assert status.database == ()
    assert status.pending == REVISIONS
    with pytest.raises(SchemaRevisionError, match="no Alembic revision") as raised:
        require_revision(engine)
    assert raised.value.status == status


def test_a_database_downgraded_to_base_is_unversioned(engine: Engine, database_url: URL):
    migrate_to(database_url, "head")
    migrate_to(database_url, "base", down=True)
    # Alembic keeps the empty version table after downgrading to base.
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 0
    assert check_revision(engine).state is RevisionState.UNVERSIONED


def test_an_older_revision_is_behind_and_names_what_is_missing(engine: Engine, database_url: URL):
    migrate_to(database_url, FIRST)
    status = check_revision(engine)
    assert status.state is RevisionState.BEHIND
    assert status.database == (FIRST,)
    assert status.pending == REVISIONS[1:]
    with pytest.raises(SchemaRevisionError) as raised:
        require_revision(engine)
    message = str(raised.value)
    assert FIRST in message and HEAD_REVISION in message and "Run the migrations" in message


def test_head_passes(engine: Engine, database_url: URL):
    migrate_to(database_url, "head")
    status = require_revision(engine)
    assert status.at_head and status.database == (HEAD_REVISION,) and status.pending == ()


def test_an_unknown_revision_is_ahead_and_allowed_unless_refused(engine: Engine, database_url: URL):
    migrate_to(database_url, "head")
    with engine.begin() as conn:  # what a newer release's migration leaves behind
        conn.execute(text("UPDATE alembic_version SET version_num = 'feedfacecafe'"))
    status = require_revision(engine)
    assert status.state is RevisionState.AHEAD
    assert status.database == ("feedfacecafe",)
    with pytest.raises(SchemaRevisionError, match=r"feedfacecafe.*does not know"):
        require_revision(engine, allow_ahead=False)


def test_a_connection_is_left_as_it_was_handed_in(engine: Engine):
    with engine.connect() as conn:
        assert check_revision(conn).state is RevisionState.UNVERSIONED
        assert not conn.in_transaction()  # the check's own transaction was closed
        conn.execute(text("CREATE TABLE probe (x int)"))
        check_revision(conn)
        assert conn.in_transaction()  # the caller's transaction is still open ...
        conn.commit()  # ... and usable: the table is still there to commit
        assert conn.execute(text("SELECT to_regclass('probe') IS NOT NULL")).scalar_one()
