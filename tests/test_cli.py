"""The command line as pipelines use it: `python -m dbtools` (what `make` runs) and Alembic.

Every failure a user can cause must end with a non-zero exit, one readable line, no
traceback, no password, and the database as it was.
"""

import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

import schema
from dbtools.core.catalog import differences
from dbtools.core.paths import REPO_ROOT
from tests.chain import BEFORE_HEAD, HEAD, REVISIONS, TABLES_AT_HEAD, message
from tests.migrate import migrate_to
from tests.pg import catalog, create_password_role, fresh_database, run_cli, url_string
from tests.repo_copy import copy_repo

PASSWORD = "p%@:/# sé'x"  # every character the design names, percent-encoded in URLs


def tables_and_version(url: URL) -> tuple[list[str], list[str]]:
    engine = schema.make_engine(url)
    try:
        tables = sorted(inspect(engine).get_table_names())
        versions = []
        if "alembic_version" in tables:
            with engine.connect() as conn:
                versions = list(
                    conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                )
        return tables, versions
    finally:
        engine.dispose()


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *, secret: str) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    error_lines = [line for line in lines if line.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr
    assert error_lines == lines[-1:], "the error is the last line"
    assert "Traceback" not in result.stderr + result.stdout
    assert secret not in result.stderr + result.stdout
    return error_lines[0]


@pytest.fixture
def password_url(server_url: URL) -> URL:
    """A database owned by a role that must give PASSWORD (special characters and all)."""
    name = f"pw_{uuid.uuid4().hex[:10]}"
    create_password_role(server_url, name, PASSWORD)
    return server_url.set(username=name, password=PASSWORD, database=name)


def test_upgrade_applies_every_revision_and_reports_them(database_url):
    result = run_cli(["upgrade"], {"DATABASE_URL": url_string(database_url)})

    assert result.returncode == 0, result.stderr
    for parent, revision in zip(["", *REVISIONS], REVISIONS, strict=False):
        assert f"Running upgrade {parent} -> {revision}, {message(revision)}" in result.stderr
    assert tables_and_version(database_url) == (TABLES_AT_HEAD, [HEAD])

    current = run_cli(["current"], {"DATABASE_URL": url_string(database_url)})
    assert current.stdout.strip() == f"{HEAD} (head)"


def test_downgrade_defaults_to_one_step_and_rev_goes_further(database_url, server_url):
    env = {"DATABASE_URL": url_string(database_url)}
    run_cli(["upgrade"], env)

    assert run_cli(["downgrade"], env).returncode == 0
    assert tables_and_version(database_url)[1] == [BEFORE_HEAD]
    # Exactly what upgrading an empty database to that revision builds.
    with fresh_database(server_url) as reference:
        migrate_to(reference, BEFORE_HEAD)
        assert differences(catalog(reference), catalog(database_url)) == []

    assert run_cli(["downgrade", "base"], env).returncode == 0
    assert tables_and_version(database_url) == (["alembic_version"], [])


def test_special_character_password_works_and_is_never_shown(password_url):
    env = {"DATABASE_URL": url_string(password_url)}
    assert "%25" in env["DATABASE_URL"], "the password is percent-encoded in the URL"

    result = run_cli(["upgrade"], env)

    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert f"{password_url.username}:***@" in result.stderr
    assert tables_and_version(password_url)[1] == [HEAD]


def test_plain_alembic_from_another_directory_works_the_same(password_url, tmp_path):
    env_url = url_string(password_url)
    result = subprocess.run(
        [
            str(REPO_ROOT / ".venv/bin/alembic"),
            "-c",
            str(REPO_ROOT / "alembic.ini"),
            "upgrade",
            "head",
        ],
        cwd=tmp_path,
        env={"DATABASE_URL": env_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert tables_and_version(password_url)[1] == [HEAD]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on loopback that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def bad_urls(server_url: URL, silent_port: int) -> dict[str, str]:
    secret = "s3cr3t-pw"
    return {
        "wrong dialect": f"mysql://u:{secret}@localhost/db",
        "garbage": f"not-a-url-{secret}",
        "refused": f"postgresql://u:{secret}@127.0.0.1:1/db",
        "silent host": f"postgresql://u:{secret}@127.0.0.1:{silent_port}/db",
        "wrong password": url_string(
            server_url.set(username="pw_nobody", password=secret, database="postgres")
        ),
        "missing database": url_string(
            server_url.set(password=secret, database="no_such_database")
        ),
    }


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "wrong dialect",
            "must be a PostgreSQL URL (postgresql://, postgres://, postgresql+psycopg2://)",
        ),
        ("garbage", "must be a PostgreSQL URL"),
        ("refused", "cannot connect to the database"),
        ("silent host", "cannot connect to the database: connection to server"),
        ("wrong password", "password authentication failed"),
        ("missing database", 'database "no_such_database" does not exist'),
    ],
)
def test_bad_database_url_fails_in_one_line_without_the_password(
    case, expected, server_url, silent_server
):
    url = bad_urls(server_url, silent_server)[case]
    # The timeout is a guard against hanging, not a measurement: connect_timeout is 5 s.
    result = run_cli(["upgrade"], {"DATABASE_URL": url}, timeout=60)

    line = assert_one_line_failure(result, secret="s3cr3t-pw")
    assert expected in line


def test_unset_url_in_ci_is_refused_and_no_server_is_started(tmp_path):
    repo = copy_repo(tmp_path)
    result = run_cli(["upgrade"], {"CI": "true", "DATABASE_URL": ""}, cwd=repo)

    line = assert_one_line_failure(result, secret="\0")
    assert "DATABASE_URL is not set and CI is true" in line
    assert not (repo / ".pgdata").exists()


def test_unset_url_uses_the_embedded_server_which_survives_until_db_stop(tmp_path):
    repo = copy_repo(tmp_path)
    env = {"DATABASE_URL": ""}
    try:
        upgrade = run_cli(["upgrade"], env, cwd=repo)
        assert upgrade.returncode == 0, upgrade.stderr
        assert f"host={str(repo / '.pgdata').replace('/', '%2F')}" in upgrade.stderr

        # A second process finds the same server and the same data.
        current = run_cli(["current"], env, cwd=repo)
        assert current.stdout.strip() == f"{HEAD} (head)"
        assert (repo / ".pgdata" / "PG_VERSION").exists()
    finally:
        stop = run_cli(["db-stop"], env, cwd=repo)
    assert stop.returncode == 0
    assert "stopped" in stop.stdout
    assert not (repo / ".pgdata" / "postmaster.pid").exists()
    assert (repo / ".pgdata" / "PG_VERSION").exists(), "data survives db-stop"


def add_revision(repo: Path, body: str) -> str:
    """Append a hand-written revision after head in a copied repository."""
    rev = "feedc0ffee01"
    (repo / "migrations/versions/2099_01_01_000000-feedc0ffee01_probe.py").write_text(
        f'"""Probe.\n\nRevision ID: {rev}\nRevises: {HEAD}\n"""\n'
        "from alembic import op\n\n"
        f"revision = {rev!r}\ndown_revision = {HEAD!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade() -> None:\n    {body}\n\n\n"
        "def downgrade() -> None:\n    op.execute('DROP TABLE IF EXISTS probe')\n"
    )
    return rev


def test_every_revision_runs_with_the_configured_timeouts(tmp_path, database_url):
    repo = copy_repo(tmp_path)
    add_revision(
        repo,
        "op.execute(\"CREATE TABLE probe AS SELECT current_setting('lock_timeout') AS lock, "
        "current_setting('statement_timeout') AS statement\")",
    )
    env = {
        "DATABASE_URL": url_string(database_url),
        "MIGRATION_LOCK_TIMEOUT": "1234ms",
        "MIGRATION_STATEMENT_TIMEOUT": "3min",
    }

    result = run_cli(["upgrade"], env, cwd=repo)

    assert result.returncode == 0, result.stderr
    engine = schema.make_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT lock, statement FROM probe")).one() == ("1234ms", "3min")
    engine.dispose()

    offline = run_cli(["sql", "--from", HEAD], env, cwd=repo)
    assert "SET lock_timeout = '1234ms';\nSET statement_timeout = '3min';" in offline.stdout


def test_autogenerate_refuses_an_empty_revision(tmp_path, server_url):
    repo = copy_repo(tmp_path)
    before = sorted(p.name for p in (repo / "migrations/versions").iterdir())

    result = run_cli(
        ["revision", "-m", "nothing changed"], {"DATABASE_URL": url_string(server_url)}, cwd=repo
    )

    line = assert_one_line_failure(result, secret="\0")
    assert "the models and the migrations already match: no revision written" in line
    assert sorted(p.name for p in (repo / "migrations/versions").iterdir()) == before


def test_revision_without_a_message_is_refused():
    result = run_cli(["revision", "-m", ""], {"DATABASE_URL": "postgresql://u@127.0.0.1:1/db"})

    line = assert_one_line_failure(result, secret="\0")
    assert "a revision needs a message" in line


def test_psql_opens_the_configured_database_with_its_password(password_url):
    result = run_cli(
        ["psql"],
        {"DATABASE_URL": url_string(password_url)},
        stdin="SELECT current_user, current_database();",
    )

    assert result.returncode == 0, result.stderr
    assert f"{password_url.username} | {password_url.database}" in result.stdout
