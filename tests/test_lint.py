"""`make lint`: ruff and Squawk, on a repository copy with revisions a DBA must not approve.

Each unsafe kind the issue lists gets a revision of its own in a throwaway copy of the
repository; `make generate` renders its SQL and `make lint` must fail naming the rule.
"""

import pytest
from sqlalchemy import inspect

import schema
from dbtools import devserver
from dbtools.core.chain import script_directory
from dbtools.core.paths import REPO_ROOT
from dbtools.operations.waivers import IGNORE_PREFIX, WAIVER_PREFIX
from tests import own_table
from tests.chain import free_table
from tests.harness import clean_env, last_error, make
from tests.own_table import TABLE
from tests.pg import query, url_string
from tests.repo_copy import copy_repo, dbtools, psql, write_revision

HEAD = script_directory().get_current_head()
GUIDE = (REPO_ROOT / "docs" / "reviewing.md").read_text()

# The unsafe operations act on a table of their own, made by a revision before them, so
# they hold whatever tables and columns the models have grown (nothing references it).
PROBE = "0badc0ffee00"
PROBED = free_table("lint_probe")
RENAMED = free_table("lint_probe_renamed")
PROBE_TABLE = f"""
op.create_table(
    "{PROBED}",
    sa.Column("id", sa.BigInteger(), primary_key=True),
    sa.Column("name", sa.Text()),
    sa.Column("email", sa.Text()),
    sa.Column("age", sa.SmallInteger()),
)
"""

UNSAFE = {
    "index without CONCURRENTLY": (
        f'op.create_index("ix_{PROBED}_email_name", "{PROBED}", ["email", "name"])',
        "require-concurrent-index-creation",
    ),
    "NOT NULL column without default": (
        f'op.add_column("{PROBED}", sa.Column("tenant_id", sa.BigInteger(), nullable=False))',
        "adding-required-field",
    ),
    "dropped column": (f'op.drop_column("{PROBED}", "age")', "ban-drop-column"),
    "renamed column": (
        f'op.alter_column("{PROBED}", "name", new_column_name="display_name")',
        "renaming-column",
    ),
    "dropped table": (f'op.drop_table("{PROBED}")', "ban-drop-table"),
    "renamed table": (f'op.rename_table("{PROBED}", "{RENAMED}")', "renaming-table"),
    "column type change": (
        f'op.alter_column("{PROBED}", "age", type_=sa.BigInteger())',
        "changing-column-type",
    ),
}


def rendered(root, rev: str, direction: str = "upgrade") -> str:
    return next((root / "migrations" / "sql").glob(f"*-{rev}_*.{direction}.sql")).read_text()


def test_lint_passes_on_the_repository():
    done = make(REPO_ROOT, "lint", clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lint passed" in done.stdout
    assert done.stdout.strip() in GUIDE


def test_every_rule_switched_off_is_explained_in_the_configuration_and_the_guide():
    import tomllib

    config_text = (REPO_ROOT / ".squawk.toml").read_text()
    config = tomllib.loads(config_text)
    assert config["assume_in_transaction"] is True
    # Rules judge locks by the oldest PostgreSQL this repository supports.
    assert int(config["pg_version"].split(".")[0]) == min(devserver.SUPPORTED_VERSIONS)
    for rule in config["excluded_rules"]:
        assert f"`{rule}`" in GUIDE
        # A comment line right above the rule gives the reason.
        above = config_text.split(f'"{rule}"')[0].rstrip().splitlines()[-1].strip()
        assert above.startswith("#"), rule


@pytest.mark.parametrize("kind", UNSAFE, ids=UNSAFE.keys())
def test_an_unsafe_revision_fails_lint_naming_the_rule(kind, tmp_path, server_url):
    operation, rule = UNSAFE[kind]
    root = copy_repo(tmp_path)
    write_revision(root, PROBE, HEAD, "A table to probe", PROBE_TABLE, f'op.drop_table("{PROBED}")')
    write_revision(root, "0badc0ffee01", PROBE, kind, operation)
    assert make(root, "generate", clean_env(DATABASE_URL=url_string(server_url))).returncode == 0

    done = make(root, "lint", clean_env())
    assert done.returncode != 0
    assert f"| `{rule}` |" in GUIDE  # the guide explains the finding
    findings = [line for line in done.stdout.splitlines() if f" {rule} " in line]
    assert findings, done.stdout
    assert all("-0badc0ffee01_extra.upgrade.sql:" in line for line in findings)
    assert last_error(done).startswith("error: lint found")


def test_a_revision_without_timeouts_fails_lint(tmp_path, server_url):
    # The renderer always writes the SET lines; this proves the rules stay on should
    # the rendered SQL ever lose them (a hand-edited file, a broken renderer).
    root = copy_repo(tmp_path)
    write_revision(root, "0badc0ffee02", HEAD, "Add a column", 'op.execute("SELECT 1")')
    assert make(root, "generate", clean_env(DATABASE_URL=url_string(server_url))).returncode == 0
    path = next((root / "migrations" / "sql").glob("*-0badc0ffee02_*.upgrade.sql"))
    sql = path.read_text()
    path.write_text("\n".join(line for line in sql.splitlines() if not line.startswith("SET ")))
    # An ALTER that needs an ACCESS EXCLUSIVE lock, so the timeout rules apply.
    path.write_text(
        path.read_text().replace("SELECT 1;", f"ALTER TABLE {TABLE} ADD COLUMN note TEXT;")
    )

    done = make(root, "lint", clean_env())
    assert done.returncode != 0
    assert " require-lock-timeout " in done.stdout
    assert " require-statement-timeout " in done.stdout


def test_a_waiver_in_the_revision_reaches_the_sql_and_the_linter_honours_it(
    tmp_path, database_url, server_url
):
    root = copy_repo(tmp_path)
    own_table.add_revision(root, HEAD)
    write_revision(
        root,
        "0badc0ffee03",
        own_table.REVISION,
        f"Add tenant_id to {TABLE}",
        f"""
        op.waive_lint("adding-required-field", reason="{TABLE} is empty until launch")
        op.add_column("{TABLE}", sa.Column("tenant_id", sa.BigInteger(), nullable=False))
        """,
        f'op.drop_column("{TABLE}", "tenant_id")',
    )
    assert make(root, "generate", clean_env(DATABASE_URL=url_string(server_url))).returncode == 0
    sql = rendered(root, "0badc0ffee03")
    assert (
        f"{WAIVER_PREFIX}{TABLE} is empty until launch\n"
        f"{IGNORE_PREFIX}adding-required-field\n"
        f"ALTER TABLE {TABLE} ADD COLUMN tenant_id BIGINT NOT NULL;"
    ) in sql
    done = make(root, "lint", clean_env())
    assert done.returncode == 0, done.stdout + done.stderr

    # Online the waiver runs nothing; the column is there.
    upgraded = dbtools(root, ["upgrade"], clean_env(DATABASE_URL=url_string(database_url)))
    assert upgraded.returncode == 0, upgraded.stderr
    engine = schema.make_engine(database_url)
    try:
        columns = {c["name"]: c for c in inspect(engine).get_columns(TABLE)}
    finally:
        engine.dispose()
    assert columns["tenant_id"]["nullable"] is False


def test_a_waiver_that_waives_nothing_is_reported(tmp_path, server_url):
    root = copy_repo(tmp_path)
    own_table.add_revision(root, HEAD)
    write_revision(
        root,
        "0badc0ffee04",
        own_table.REVISION,
        "Add a nullable note",
        f"""
        op.waive_lint("ban-drop-column", reason="copied from another revision")
        op.add_column("{TABLE}", sa.Column("note", sa.Text(), nullable=True))
        """,
    )
    assert make(root, "generate", clean_env(DATABASE_URL=url_string(server_url))).returncode == 0
    done = make(root, "lint", clean_env())
    assert done.returncode != 0
    assert "waiver of ban-drop-column waives nothing" in done.stdout


def test_a_waiver_without_a_reason_is_refused(tmp_path, server_url):
    root = copy_repo(tmp_path)
    write_revision(
        root, "0badc0ffee05", HEAD, "Drop age", 'op.waive_lint("ban-drop-column", reason=" ")'
    )
    done = make(root, "generate", clean_env(DATABASE_URL=url_string(server_url)))
    assert done.returncode != 0
    assert last_error(done) == (
        "error: ValueError: waive_lint needs a reason: say why the rule does not apply here"
    )


CONCURRENT = f"ix_{TABLE}_email_name"
CONCURRENT_UP = f'op.create_index_concurrently("{CONCURRENT}", "{TABLE}", ["email", "name"])'
CONCURRENT_DOWN = f"""
with op.get_context().autocommit_block():
    op.drop_index(
        "{CONCURRENT}", table_name="{TABLE}",
        postgresql_concurrently=True, if_exists=True,
    )
"""


def index_state(url) -> list[tuple]:
    return query(
        url,
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        f"WHERE c.relname = '{CONCURRENT}'",
    )


def test_create_index_concurrently_works_online_and_renders_offline(tmp_path, server_url):
    from tests.pg import fresh_database

    root = copy_repo(tmp_path)
    own_table.add_revision(root, HEAD)
    message = f"Index {TABLE} by email and name"
    write_revision(
        root, "c0cc0cc0cc01", own_table.REVISION, message, CONCURRENT_UP, CONCURRENT_DOWN
    )
    assert make(root, "generate", clean_env(DATABASE_URL=url_string(server_url))).returncode == 0

    # Offline: the index is built between the revision's COMMIT and a new BEGIN, which
    # opens with the timeouts again, under the timeout of steps outside a transaction and
    # followed by its validity check; Squawk finds nothing to object to.
    sql = rendered(root, "c0cc0cc0cc01")
    block = (
        "COMMIT;\n\nSET statement_timeout = '2h';\n\n"
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {CONCURRENT} ON {TABLE} (email, name);\n\n"
        "DO $$\nBEGIN\n    IF NOT (SELECT indisvalid FROM pg_index WHERE indexrelid = "
        f"'{CONCURRENT}'::regclass) THEN\n        RAISE EXCEPTION 'index "
        f"{CONCURRENT} is INVALID: DROP INDEX CONCURRENTLY it, then run again';\n"
        "    END IF;\nEND\n$$;\n\n"
        "BEGIN;\n\nSET lock_timeout = '5s';\nSET statement_timeout = '10min';\n"
        "SET search_path = public;\n"
    )
    assert block + "\nUPDATE public.alembic_version SET version_num='c0cc0cc0cc01'" in sql
    # The guide shows what the tools print (on the example's table and index).
    assert own_table.in_document(block, GUIDE, [TABLE, CONCURRENT])
    linted = make(root, "lint", clean_env())
    assert linted.returncode == 0, linted.stdout + linted.stderr

    with fresh_database(server_url) as online, fresh_database(server_url) as offline:
        # psql refuses CREATE INDEX CONCURRENTLY inside a transaction block, so this
        # succeeding shows the rendering is right, not merely plausible.
        script = dbtools(root, ["sql"], clean_env(DATABASE_URL="postgresql://x@127.0.0.1:9/x"))
        applied = psql(offline, script.stdout)
        assert applied.returncode == 0, applied.stderr
        assert index_state(offline) == [(CONCURRENT, True)]

        env = clean_env(DATABASE_URL=url_string(online))
        upgraded = dbtools(root, ["upgrade"], env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert index_state(online) == [(CONCURRENT, True)]

        # A downgrade step outside a transaction cannot be measured: it needs consent.
        downgraded = dbtools(root, ["downgrade"], {**env, "ALLOW_DATA_LOSS": "1"})
        assert downgraded.returncode == 0, downgraded.stderr
        assert index_state(online) == []


WAIVED_TABLE = """
op.waive_lint("prefer-bigint-over-int", reason="a mood score never nears 2^31")
op.create_table(
    "moods",
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("mood", sa.Enum("happy", "sad", name="mood")),
    sa.Column("score", sa.Integer()),
)
"""


def test_a_waiver_covers_a_finding_inside_a_statement_after_an_implicit_one(tmp_path, server_url):
    # The enum column makes create_table emit CREATE TYPE first; the finding is on the
    # `score` line, inside the multi-line CREATE TABLE after it.
    root = copy_repo(tmp_path)
    write_revision(
        root,
        "0badc0ffee06",
        HEAD,
        "Moods",
        WAIVED_TABLE,
        'op.drop_table("moods")\nsa.Enum(name="mood").drop(op.get_bind())',
    )
    # No `make generate`: lint renders the revision itself.
    done = make(root, "lint", clean_env())
    assert done.returncode == 0, done.stdout + done.stderr

    unwaived = root / "migrations" / "versions" / "2099_01_01_0badc0-0badc0ffee06_extra.py"
    source = unwaived.read_text().splitlines(keepends=True)
    unwaived.write_text("".join(line for line in source if "op.waive_lint(" not in line))
    done = make(root, "lint", clean_env())
    assert done.returncode != 0
    [finding] = [line for line in done.stdout.splitlines() if "prefer-bigint-over-int" in line]
    # File and line of the `score` column, in the SQL as the revision renders now.
    assert finding.startswith("migrations/sql/2099_01_01_0badc0-0badc0ffee06_extra.upgrade.sql (")
    row = int(finding.split(":")[1])
    assert make(root, "generate", clean_env(DATABASE_URL=url_string(server_url))).returncode == 0
    assert "score INTEGER" in rendered(root, "0badc0ffee06").splitlines()[row - 1]
    # Once generated, the finding names the committed file alone.
    again = make(root, "lint", clean_env())
    assert f"extra.upgrade.sql:{row}:" in again.stdout
    assert "renders now" not in again.stdout


def test_an_unused_waiver_names_the_statement_it_sits_on(tmp_path):
    root = copy_repo(tmp_path)
    own_table.add_revision(root, HEAD)
    write_revision(
        root,
        "0badc0ffee07",
        own_table.REVISION,
        "Add a nullable note",
        f"""
        op.waive_lint("ban-drop-column", reason="copied from another revision")
        op.add_column("{TABLE}", sa.Column("note", sa.Text(), nullable=True))
        """,
    )
    done = make(root, "lint", clean_env())
    assert done.returncode != 0
    [line] = [line for line in done.stdout.splitlines() if "waives nothing" in line]
    assert "waiver of ban-drop-column waives nothing" in line
    assert f"(it sits on `ALTER TABLE {TABLE} ADD COLUMN note TEXT;`)" in line
    assert line.startswith("migrations/sql/2099_01_01_0badc0-0badc0ffee07_extra.upgrade.sql (")


def test_an_unformatted_file_is_named_and_make_format_fixes_it(tmp_path):
    root = copy_repo(tmp_path)
    (root / "dbtools" / "untidy.py").write_text('"""Untidy."""\nimport os,sys\nx=[1,\n2]\n')
    done = make(root, "lint", clean_env())
    assert done.returncode != 0
    # The line where the formatting first differs.
    assert "dbtools/untidy.py:2:1: not formatted (run `make format`)" in done.stdout
    assert "dbtools/untidy.py:2:1: E401" in done.stdout  # ruff check, file and line
    assert "exit status" not in done.stdout

    formatted = make(root, "format", clean_env())
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    assert (root / "dbtools" / "untidy.py").read_text() == '"""Untidy."""\n\nx = [1, 2]\n'
    assert make(root, "lint", clean_env()).returncode == 0


# One statement for each kind of step a revision can render; whatever Squawk says about
# them with this repository's configuration, the guide must explain.
EVERY_KIND_OF_STEP = """
BEGIN;
SET lock_timeout = '5s';
SET statement_timeout = '10min';
DROP TYPE t1;
DROP INDEX i1;
ALTER TABLE a DROP CONSTRAINT c1;
DROP FUNCTION f1();
DROP VIEW v1;
DROP SCHEMA s1;
DROP SEQUENCE q1;
DROP DOMAIN d1;
DROP EXTENSION e1;
DROP TABLE a2;
ALTER TABLE a DROP COLUMN c;
ALTER TABLE a ALTER COLUMN x DROP DEFAULT;
ALTER TYPE t2 ADD VALUE 'w';
ALTER TYPE t2 RENAME TO t3;
ALTER TABLE a RENAME TO a3;
ALTER TABLE a RENAME COLUMN x TO y;
ALTER TABLE a SET SCHEMA s2;
CREATE TABLE b (id serial PRIMARY KEY, c char(3), t timestamp, n int, s smallint);
CREATE INDEX ib ON a (x);
ALTER TABLE a ADD CONSTRAINT u UNIQUE (x);
ALTER TABLE a ALTER COLUMN x DROP NOT NULL;
ALTER TABLE a ALTER COLUMN x SET NOT NULL;
ALTER TABLE a ADD COLUMN z uuid DEFAULT gen_random_uuid();
ALTER TABLE a ADD COLUMN r bigint NOT NULL;
ALTER TABLE a ADD CONSTRAINT ck CHECK (x > 0);
ALTER TABLE a ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES b (id);
ALTER TABLE a ALTER COLUMN x TYPE bigint;
ALTER TABLE a ALTER COLUMN x DROP IDENTITY;
ALTER TABLE a ALTER COLUMN x DROP EXPRESSION;
TRUNCATE a CASCADE;
CREATE INDEX CONCURRENTLY ci ON a (x);
REINDEX TABLE a;
ALTER TABLE a DETACH PARTITION p1;
CREATE DOMAIN dd AS int CHECK (VALUE > 0);
ALTER DOMAIN dd ADD CONSTRAINT x CHECK (VALUE > 1);
UPDATE a SET x = 1, x = 2;
COMMIT;
"""


def test_the_guide_explains_every_rule_a_revision_can_trigger(tmp_path):
    import subprocess

    sql = tmp_path / "every.upgrade.sql"
    sql.write_text(EVERY_KIND_OF_STEP)
    squawk = REPO_ROOT / ".venv" / "bin" / "squawk"
    done = subprocess.run(
        [str(squawk), "--config", ".squawk.toml", "--reporter", "gcc", str(sql)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    rules = {line.split(": warning: ", 1)[1].split()[0] for line in done.stdout.splitlines()}
    assert len(rules) > 20, done.stdout + done.stderr
    table = [line for line in GUIDE.splitlines() if line.startswith("| `")]
    missing = sorted(r for r in rules if not any(f"`{r}`" in row.split(" | ")[0] for row in table))
    assert missing == [], f"explain in docs/reviewing.md: {', '.join(missing)}"
