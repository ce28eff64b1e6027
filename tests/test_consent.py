"""Destruction needs consent: a downgrade that would drop a table, column or type that
holds data is refused unless ALLOW_DATA_LOSS=1.

`make downgrade REV=base` on a database with rows used to drop every table and exit 0,
with CI=true too. Parametrised over the chain: each revision's downgrade is tried with a
row in every table, once with every column filled and once with the nullable ones NULL
(a column of NULLs holds nothing). What it would drop is read from the catalog before
and after the revision, never from a list here.
"""

import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from dbtools.apply import consent
from dbtools.core.paths import REPO_ROOT
from tests.chain import SCRIPTS, UNRELEASED
from tests.harness import columns
from tests.repo_copy import copy_repo, write_revision
from tests.runs import cli_env, error_line, run, state, versions

CHAIN = SCRIPTS


def sample(column: sa.Column) -> object:
    """A value of the column's type (one row per table: uniqueness holds)."""
    python_type = getattr(column.type, "enums", None)
    if python_type:
        return python_type[0]
    kind = column.type.python_type
    length = getattr(column.type, "length", None) or 8
    return {
        int: 1,
        str: "x" * min(length, 8),
        bool: True,
        float: 1.0,
        datetime: datetime.now(UTC),
    }.get(kind)


def fill(engine, nullable_null: bool) -> None:
    """One row in every table; nullable columns NULL when `nullable_null`."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            row = {
                c.name: None if (c.nullable and nullable_null) else sample(c)
                for c in table.columns
                if not (
                    c.server_default is not None
                    or c.identity is not None
                    or c.autoincrement is True
                )
            }
            conn.execute(table.insert().values(**row))


# Revisions not released yet; the whole chain's downgrade is the next two tests.
NEW = [s for s in CHAIN if s.revision in UNRELEASED]


@pytest.mark.parametrize("nullable_null", [False, True], ids=["filled", "nulls"])
@pytest.mark.parametrize("script", NEW, ids=[s.revision for s in NEW])
def test_a_downgrade_that_drops_data_needs_consent(script, nullable_null, database_url, engine):
    env = cli_env(database_url)
    parent = script.down_revision or "base"
    assert run(REPO_ROOT, ["upgrade", script.revision], env).returncode == 0
    at_revision = columns(engine)
    assert run(REPO_ROOT, ["downgrade", "-1"], {**env, "ALLOW_DATA_LOSS": "1"}).returncode == 0
    at_parent = columns(engine)
    assert run(REPO_ROOT, ["upgrade", script.revision], env).returncode == 0
    fill(engine, nullable_null)
    reflected = sa.MetaData()
    reflected.reflect(engine)
    expected = [f"table {t} (1 row)" for t in at_revision if t not in at_parent]
    expected += [
        f"column {t}.{c} (1 value)"
        for t in at_revision
        if t in at_parent
        for c in sorted(at_revision[t] - at_parent[t])
        if not (nullable_null and reflected.tables[t].columns[c].nullable)
    ]
    before = state(engine)

    refused = run(REPO_ROOT, ["downgrade", "-1"], {**env, "CI": "true"})

    if not expected:
        assert refused.returncode == 0, refused.stderr
        assert versions(engine) == ([] if parent == "base" else [parent])
        return
    assert refused.returncode == 1
    line = error_line(refused.stderr)
    assert line.startswith("error: downgrading to -1 would drop data: "), line
    for loss in expected:
        assert loss in line, line
    assert "set ALLOW_DATA_LOSS=1 to drop it anyway" in line
    assert state(engine) == before

    allowed = run(REPO_ROOT, ["downgrade", "-1"], {**env, "ALLOW_DATA_LOSS": "1"})

    assert allowed.returncode == 0, allowed.stderr
    assert columns(engine) == at_parent


def test_downgrade_to_base_of_empty_tables_needs_no_consent(database_url, engine):
    env = cli_env(database_url, CI="true")
    assert run(REPO_ROOT, ["upgrade", "head"], env).returncode == 0

    result = run(REPO_ROOT, ["downgrade", "base"], env)

    assert result.returncode == 0, result.stderr
    assert versions(engine) == [] and columns(engine) == {}


def test_downgrade_to_base_with_rows_names_every_table(database_url, engine):
    env = cli_env(database_url, CI="true")
    assert run(REPO_ROOT, ["upgrade", "head"], env).returncode == 0
    fill(engine, nullable_null=False)
    before = state(engine)

    result = run(REPO_ROOT, ["downgrade", "base"], env)

    assert result.returncode == 1
    line = error_line(result.stderr)
    for table in columns(engine):
        assert f"table {table} (1 row)" in line, line
    assert state(engine) == before


def test_offline_downgrade_sql_is_not_checked(tmp_path):
    head, first = CHAIN[-1].revision, CHAIN[0].revision
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(REPO_ROOT / "alembic.ini"),
            "downgrade",
            f"{head}:base",
            "--sql",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env("postgresql://u:p@127.0.0.1:1/x"),
    )
    assert result.returncode == 0, result.stderr
    assert f"downgrade {first} -> " in result.stdout


def test_a_dropped_type_counts_the_values_of_its_columns(tmp_path, database_url, engine):
    repo = copy_repo(tmp_path)
    write_revision(
        repo,
        uuid.uuid4().hex[:12],
        CHAIN[-1].revision,
        "Add a probe table with an enum type.",
        'op.create_table("probe", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("mood", sa.Enum("happy", "sad", name="probe_mood")))',
        'op.drop_table("probe")\nop.execute("DROP TYPE probe_mood")',
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO probe (id, mood) VALUES (1, 'happy'), (2, NULL)"))
    before = state(engine)

    result = run(repo, ["downgrade", "-1"], env)

    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "table probe (2 rows), type probe_mood (1 value)" in line, line
    assert state(engine) == before
    assert run(repo, ["downgrade", "-1"], {**env, "ALLOW_DATA_LOSS": "1"}).returncode == 0
    assert "probe" not in columns(engine)


def test_what_the_downgrade_sql_drops_is_read_from_every_form_alembic_or_a_revision_writes():
    sql = """
-- Running downgrade b -> a, Something.
BEGIN;
SET lock_timeout = '5s';
ALTER TABLE "Odd Table" DROP COLUMN IF EXISTS "Mixed Col", DROP COLUMN plain;
ALTER TABLE accounts ALTER COLUMN note DROP DEFAULT;
ALTER TABLE accounts ALTER COLUMN note DROP NOT NULL;
ALTER TABLE accounts DROP CONSTRAINT ck_accounts_positive;
DROP INDEX ix_accounts_note;
DROP TABLE IF EXISTS app.accounts;
DROP TYPE mood;
UPDATE alembic_version SET version_num='a' WHERE alembic_version.version_num = 'b';
DROP TABLE alembic_version;
COMMIT;
"""
    assert consent.dropped(sql) == [
        ("column", '"Odd Table"', '"Mixed Col"'),
        ("column", '"Odd Table"', "plain"),
        ("table", "app.accounts", None),
        ("type", "mood", None),
    ]
