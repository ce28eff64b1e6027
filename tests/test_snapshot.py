"""schema.sql and the other generated artefacts: fresh, deterministic, and faithful.

Loading schema.sql into an empty database with psql gives the same catalog and version
row as `make upgrade`, so a service in any language can build its test database from it.
"""

import subprocess
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

import schema
from dbtools import devserver
from dbtools.consume import snapshot
from dbtools.core import settings
from dbtools.core.catalog import differences
from dbtools.core.paths import REPO_ROOT
from dbtools.review import generated
from tests.chain import MODEL_SCHEMAS, TABLES
from tests.pg import catalog, create_password_role, fresh_database, run_cli, url_string
from tests.pg import versions as version_rows


def psql_file(url: URL, path: str) -> subprocess.CompletedProcess[str]:
    psql = devserver.bin_dir(snapshot.PG_DUMP_VERSION) / "psql"
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(
        [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", path, libpq],
        capture_output=True,
        text=True,
    )


def test_every_generated_artefact_is_fresh(rendering_server: URL):
    stale = generated.stale(settings.load())
    assert stale == [], (
        f"generated files differ from what the models and migrations give: "
        f"{', '.join(map(str, stale))}. Run `make generate` and commit the result"
    )


def test_the_snapshot_renders_the_same_text_twice(rendering_server: URL):
    snapshot._cache.clear()
    first = snapshot.render(settings.load())
    snapshot._cache.clear()
    assert snapshot.render(settings.load()) == first
    assert not (REPO_ROOT / "schema" / "schema.sql").exists()  # one copy, at the root


def test_rendering_passes_a_special_password_to_pg_dump(
    server_url: URL, monkeypatch: pytest.MonkeyPatch
):
    password = "p@ss:w%rd/ #é"
    role = f"pw_snapshot_{uuid.uuid4().hex[:8]}"  # unique, should the server be reused
    create_password_role(server_url, role, password)
    with schema.make_engine(server_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'ALTER ROLE "{role}" CREATEDB'))
    url = server_url.set(username=role, password=password, database=role)
    monkeypatch.setenv("DATABASE_URL", url_string(url))
    snapshot._cache.clear()
    assert snapshot.render(settings.load()) == (REPO_ROOT / "schema.sql").read_text()


def test_schema_sql_through_psql_equals_make_upgrade(server_url: URL):
    with fresh_database(server_url) as loaded, fresh_database(server_url) as upgraded:
        result = psql_file(loaded, str(REPO_ROOT / "schema.sql"))
        assert result.returncode == 0, result.stderr
        upgrade = run_cli(["upgrade"], {"DATABASE_URL": url_string(upgraded)})
        assert upgrade.returncode == 0, upgrade.stderr

        expected, actual = catalog(upgraded), catalog(loaded)
        assert differences(expected, actual) == []
        tables = [key.split(".", 1) for key in actual["table"]]
        assert sorted(name for where, name in tables if where in MODEL_SCHEMAS) == sorted(TABLES)
        assert version_rows(loaded) == version_rows(upgraded) == [schema.HEAD_REVISION]


_RAW_DUMP = """--
-- PostgreSQL database dump
--

\\restrict AbC123randomTOKEN

-- Dumped from database version 18.4
-- Dumped by pg_dump version 18.4

SET statement_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';

CREATE TABLE public.t (x integer);

\\unrestrict AbC123randomTOKEN
"""


def test_normalising_drops_tokens_versions_and_settings_older_servers_reject():
    text = snapshot.normalise(_RAW_DUMP, head="abc123")
    for gone in ("restrict", "AbC123", "18.4", "transaction_timeout"):
        assert gone not in text
    assert "SET statement_timeout = 0;" in text
    assert "CREATE TABLE public.t (x integer);" in text
    assert text.rstrip().endswith(
        "INSERT INTO public.alembic_version (version_num) VALUES ('abc123');"
    )
    assert "\n\n\n\n" not in text


def test_an_unreachable_server_is_one_line_without_the_password(monkeypatch: pytest.MonkeyPatch):
    from dbtools.core.errors import UserError

    monkeypatch.setenv("DATABASE_URL", "postgresql://u:s3cr%40t@127.0.0.1:9/db")
    snapshot._cache.clear()
    with pytest.raises(UserError) as raised:
        snapshot.render(settings.load())
    message = str(raised.value)
    assert message.startswith("cannot build the database schema.sql is dumped from:")
    assert "\n" not in message and "s3cr" not in message
