"""What the models do not have yet: enum types and CHECK constraints, verified for real.

A synthetic revision in a copy of the repository (chained off the current head) creates
an enum type and a table with a CHECK constraint; a database migrated there is then
changed by hand. Also: an edited chain gets a new template instead of a stale one.
"""

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from dbtools.verify.expected import template_name
from tests.repo_copy import copy_repo, dbtools, psql, write_revision
from tests.runs import cli_env
from tests.verifying import execute, head, snapshot, verify, verify_json

PROBE = "ab12cd34ef56"
UPGRADE = """
op.execute("CREATE TYPE verify_mood AS ENUM ('happy', 'calm', 'sad')")
op.execute(
    "CREATE TABLE verify_probe (id bigint PRIMARY KEY, mood verify_mood, "
    "n integer CONSTRAINT ck_verify_probe_n CHECK (n >= 0), "
    "doubled integer GENERATED ALWAYS AS (n * 2) STORED)"
)
op.execute("CREATE VIEW verify_probe_positive AS SELECT id, n FROM verify_probe WHERE n > 0")
op.execute(
    "CREATE FUNCTION verify_probe_count() RETURNS bigint LANGUAGE sql "
    "AS 'SELECT count(*) FROM verify_probe'"
)
op.execute("CREATE SEQUENCE verify_probe_numbers INCREMENT BY 10")
"""
DOWNGRADE = """
op.execute("DROP SEQUENCE verify_probe_numbers")
op.execute("DROP FUNCTION verify_probe_count()")
op.execute("DROP VIEW verify_probe_positive")
op.execute("DROP TABLE verify_probe")
op.execute("DROP TYPE verify_mood")
"""


@pytest.fixture(scope="module")
def probe_repo(tmp_path_factory):
    root = copy_repo(tmp_path_factory.mktemp("verify"))
    write_revision(root, PROBE, head(), "Add a probe table (test only).", UPGRADE, DOWNGRADE)
    return root


@pytest.fixture
def probed(probe_repo, database_url):
    done = dbtools(probe_repo, ["upgrade", "head"], cli_env(database_url))
    assert done.returncode == 0, done.stderr
    return database_url


CASES = [
    # (hand-made change, kind, object)
    ("ALTER TYPE verify_mood ADD VALUE 'angry'", "enum-values", "public.verify_mood"),
    ("ALTER TYPE verify_mood RENAME VALUE 'calm' TO 'serene'", "enum-values", "public.verify_mood"),
    (
        "ALTER TABLE verify_probe DROP CONSTRAINT ck_verify_probe_n, "
        "ADD CONSTRAINT ck_verify_probe_n CHECK (n >= 0) NOT VALID",
        "constraint-not-validated",
        "public.verify_probe.ck_verify_probe_n",
    ),
    (
        "ALTER TABLE verify_probe DROP CONSTRAINT ck_verify_probe_n, "
        "ADD CONSTRAINT ck_verify_probe_n CHECK (n >= -1)",
        "constraint-definition",
        "public.verify_probe.ck_verify_probe_n",
    ),
    (
        "ALTER TABLE verify_probe DROP COLUMN doubled, "
        "ADD COLUMN doubled integer GENERATED ALWAYS AS (n * 3) STORED",
        "column-generated",
        "public.verify_probe.doubled",
    ),
    (
        "CREATE OR REPLACE VIEW verify_probe_positive AS "
        "SELECT id, n FROM verify_probe WHERE n > 1",
        "view-definition",
        "public.verify_probe_positive",
    ),
    ("DROP VIEW verify_probe_positive", "view-missing", "public.verify_probe_positive"),
    (
        "CREATE OR REPLACE FUNCTION verify_probe_count() RETURNS bigint LANGUAGE sql "
        "AS 'SELECT 42::bigint'",
        "function-definition",
        "public.verify_probe_count()",
    ),
    ("DROP FUNCTION verify_probe_count()", "function-missing", "public.verify_probe_count()"),
    (
        "ALTER SEQUENCE verify_probe_numbers INCREMENT BY 1",
        "sequence-definition",
        "public.verify_probe_numbers",
    ),
    ("DROP SEQUENCE verify_probe_numbers", "sequence-missing", "public.verify_probe_numbers"),
    ("DROP TYPE verify_mood CASCADE", "enum-missing", "public.verify_mood"),
]


@pytest.mark.parametrize(("sql", "kind", "obj"), CASES, ids=lambda v: v[:40])
def test_enum_and_check_changes_are_named_and_fixed(sql, kind, obj, probe_repo, probed, server_url):
    assert verify(probed, server_url, probe_repo).returncode == 0
    execute(probed, "INSERT INTO verify_probe VALUES (1, 'sad', 3)", sql)
    before = snapshot(probed)

    report = verify_json(probed, server_url, probe_repo)

    found = [(d["kind"], d["object"]) for d in report["differences"]]
    assert found[0] == (kind, obj)
    # Only DROP TYPE ... CASCADE takes more along: the column of that type.
    assert found[1:] == (
        [("column-missing", "public.verify_probe.mood")] if "CASCADE" in sql else []
    )
    assert report["revision"] == PROBE
    assert snapshot(probed) == before
    fixed = psql(probed, "\n".join(d["fix"] for d in report["differences"]))
    assert fixed.returncode == 0, fixed.stderr
    assert verify(probed, server_url, probe_repo).returncode == 0


def test_enum_values_are_compared_in_order(probe_repo, probed, server_url):
    execute(
        probed,
        "ALTER TYPE verify_mood RENAME TO verify_mood_old",
        "CREATE TYPE verify_mood AS ENUM ('sad', 'calm', 'happy')",
        "ALTER TABLE verify_probe ALTER COLUMN mood TYPE verify_mood USING mood::text::verify_mood",
        "DROP TYPE verify_mood_old",
    )
    report = verify_json(probed, server_url, probe_repo)
    [difference] = report["differences"]
    assert (difference["expected"], difference["actual"]) == (
        "happy, calm, sad",
        "sad, calm, happy",
    )


def test_an_edited_chain_gets_a_new_template(probe_repo):
    def name() -> str:
        cfg = Config(str(probe_repo / "alembic.ini"))
        return template_name(ScriptDirectory.from_config(cfg), (PROBE,))

    before = name()
    path = next((probe_repo / "migrations" / "versions").glob(f"*{PROBE}*.py"))
    original = path.read_text()
    try:
        path.write_text(original.replace("n >= 0", "n >= 1"))
        assert name() != before
    finally:
        path.write_text(original)
    assert name() == before
    assert before.startswith(f"verify_{PROBE}_") and len(before) <= 63
