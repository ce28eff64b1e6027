"""The failures of `make verify` a user can cause: one line, no traceback, nothing changed."""

import uuid

import pytest
from sqlalchemy import text

from dbtools.verify.expected import drop_templates
from tests.migrate import migrate_to
from tests.pg import admin_engine, url_string
from tests.runs import SECRET, error_line
from tests.verifying import execute, snapshot, template_databases, verify


def test_an_unknown_format_is_refused(database_url, server_url):
    done = verify(database_url, server_url, VERIFY_FORMAT="xml")
    assert done.returncode == 1
    assert error_line(done.stderr) == "error: VERIFY_FORMAT must be text or json, got 'xml'"


def test_a_scratch_url_of_another_database_is_refused(database_url, server_url):
    done = verify(database_url, server_url, VERIFY_SCRATCH_URL=f"mysql://u:{SECRET}@h/db")
    assert done.returncode == 1
    assert error_line(done.stderr).startswith("error: VERIFY_SCRATCH_URL must be a PostgreSQL URL")


def test_a_revision_this_checkout_lacks_is_named(database_url, server_url):
    migrate_to(database_url, "head")
    execute(database_url, "UPDATE alembic_version SET version_num = 'f0f0f0f0f0f0'")
    before = snapshot(database_url)

    done = verify(database_url, server_url)

    assert done.returncode == 1
    # The same line `make upgrade` gives for a revision of another branch.
    assert error_line(done.stderr).startswith(
        "error: the database is at revision f0f0f0f0f0f0, which this checkout does not have"
    )
    assert snapshot(database_url) == before


@pytest.fixture
def no_createdb_url(server_url):
    role = f"verify_nocreate_{uuid.uuid4().hex[:8]}"
    admin = admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN NOCREATEDB"))
    try:
        yield server_url.set(username=role, password=SECRET)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_a_scratch_server_that_refuses_new_databases_is_named(
    database_url, server_url, no_createdb_url
):
    migrate_to(database_url, "head")
    dropped = drop_templates(server_url)  # so this run has to build one (later runs rebuild)
    before = snapshot(database_url)

    done = verify(database_url, server_url, VERIFY_SCRATCH_URL=url_string(no_createdb_url))

    assert done.returncode == 1
    assert snapshot(database_url) == before
    assert template_databases(server_url).keys().isdisjoint(dropped)
    line = error_line(done.stderr)
    assert line.startswith("error: cannot build the expected schema on the scratch server")
    assert "permission denied to create database" in line


def test_a_role_that_cannot_read_the_version_table_is_told_so(database_url, server_url):
    migrate_to(database_url, "head")
    role = f"verify_blind_{uuid.uuid4().hex[:8]}"
    admin = admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))  # CONNECT through PUBLIC, no reads
    try:
        done = verify(database_url.set(username=role), server_url)
        assert done.returncode == 1
        assert error_line(done.stderr) == (
            "error: database error: permission denied for table alembic_version"
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database_url.database}" WITH (FORCE)'))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()
