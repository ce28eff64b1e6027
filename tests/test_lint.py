"""`make lint`: ruff and Squawk, on a repository copy with revisions a DBA must not approve.

Each unsafe kind the issue lists gets a revision of its own in a throwaway copy of the
repository; `make generate` renders its SQL and `make lint` must fail naming the rule.
"""

import pytest
from sqlalchemy import inspect

import schema
from dbtools import revision_sql
from dbtools.config import REPO_ROOT
from dbtools.waivers import IGNORE_PREFIX, WAIVER_PREFIX
from tests.pg import query, url_string
from tests.repo_copy import (
    clean_env,
    copy_repo,
    dbtools,
    last_error,
    make,
    psql,
    write_revision,
)

HEAD = revision_sql.script_directory().get_current_head()
GUIDE = (REPO_ROOT / "docs" / "reviewing.md").read_text()

UNSAFE = {
    "index without CONCURRENTLY": (
        'op.create_index("ix_users_email_name", "users", ["email", "name"])',
        "require-concurrent-index-creation",
    ),
    "NOT NULL column without default": (
        'op.add_column("users", sa.Column("tenant_id", sa.BigInteger(), nullable=False))',
        "adding-required-field",
    ),
    "dropped column": ('op.drop_column("users", "age")', "ban-drop-column"),
    "renamed column": (
        'op.alter_column("users", "name", new_column_name="display_name")',
        "renaming-column",
    ),
    "dropped table": ('op.drop_table("users")', "ban-drop-table"),
    "renamed table": ('op.rename_table("users", "people")', "renaming-table"),
    "column type change": (
        'op.alter_column("users", "age", type_=sa.BigInteger())',
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
    assert config["pg_version"]
    for rule in config["excluded_rules"]:
        assert f"`{rule}`" in GUIDE
        # A comment line right above the rule gives the reason.
        above = config_text.split(f'"{rule}"')[0].rstrip().splitlines()[-1].strip()
        assert above.startswith("#"), rule


@pytest.mark.parametrize("kind", UNSAFE, ids=UNSAFE.keys())
def test_an_unsafe_revision_fails_lint_naming_the_rule(kind, tmp_path, server_url):
    operation, rule = UNSAFE[kind]
    root = copy_repo(tmp_path)
    write_revision(root, "0badc0ffee01", HEAD, kind, operation)
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
        path.read_text().replace("SELECT 1;", "ALTER TABLE users ADD COLUMN note TEXT;")
    )

    done = make(root, "lint", clean_env())
    assert done.returncode != 0
    assert " require-lock-timeout " in done.stdout
    assert " require-statement-timeout " in done.stdout


def test_a_waiver_in_the_revision_reaches_the_sql_and_the_linter_honours_it(
    tmp_path, database_url, server_url
):
    root = copy_repo(tmp_path)
    write_revision(
        root,
        "0badc0ffee03",
        HEAD,
        "Add tenant_id to users",
        """
        op.waive_lint("adding-required-field", reason="users is empty until launch")
        op.add_column("users", sa.Column("tenant_id", sa.BigInteger(), nullable=False))
        """,
        'op.drop_column("users", "tenant_id")',
    )
    assert make(root, "generate", clean_env(DATABASE_URL=url_string(server_url))).returncode == 0
    sql = rendered(root, "0badc0ffee03")
    assert (
        f"{WAIVER_PREFIX}users is empty until launch\n"
        f"{IGNORE_PREFIX}adding-required-field\n"
        "ALTER TABLE users ADD COLUMN tenant_id BIGINT NOT NULL;"
    ) in sql
    done = make(root, "lint", clean_env())
    assert done.returncode == 0, done.stdout + done.stderr

    # Online the waiver runs nothing; the column is there.
    upgraded = dbtools(root, ["upgrade"], clean_env(DATABASE_URL=url_string(database_url)))
    assert upgraded.returncode == 0, upgraded.stderr
    engine = schema.make_engine(database_url)
    try:
        columns = {c["name"]: c for c in inspect(engine).get_columns("users")}
    finally:
        engine.dispose()
    assert columns["tenant_id"]["nullable"] is False


def test_a_waiver_that_waives_nothing_is_reported(tmp_path, server_url):
    root = copy_repo(tmp_path)
    write_revision(
        root,
        "0badc0ffee04",
        HEAD,
        "Add a nullable note",
        """
        op.waive_lint("ban-drop-column", reason="copied from another revision")
        op.add_column("users", sa.Column("note", sa.Text(), nullable=True))
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


CONCURRENT_UP = 'op.create_index_concurrently("ix_users_email_name", "users", ["email", "name"])'
CONCURRENT_DOWN = """
with op.get_context().autocommit_block():
    op.drop_index(
        "ix_users_email_name", table_name="users",
        postgresql_concurrently=True, if_exists=True,
    )
"""


def index_state(url) -> list[tuple]:
    return query(
        url,
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = 'ix_users_email_name'",
    )


def test_create_index_concurrently_works_online_and_renders_offline(tmp_path, server_url):
    from tests.pg import fresh_database

    root = copy_repo(tmp_path)
    write_revision(
        root, "c0cc0cc0cc01", HEAD, "Index users by email and name", CONCURRENT_UP, CONCURRENT_DOWN
    )
    assert make(root, "generate", clean_env(DATABASE_URL=url_string(server_url))).returncode == 0

    # Offline: the index is built between the revision's COMMIT and a new BEGIN, which
    # opens with the timeouts again, under the timeout of steps outside a transaction and
    # followed by its validity check; Squawk finds nothing to object to.
    sql = rendered(root, "c0cc0cc0cc01")
    block = (
        "COMMIT;\n\nSET statement_timeout = '2h';\n\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_users_email_name ON users (email, name);\n\n"
        "DO $$\nBEGIN\n    IF NOT (SELECT indisvalid FROM pg_index WHERE indexrelid = "
        "'ix_users_email_name'::regclass) THEN\n        RAISE EXCEPTION 'index "
        "ix_users_email_name is INVALID: DROP INDEX CONCURRENTLY it, then run again';\n"
        "    END IF;\nEND\n$$;\n\n"
        "BEGIN;\n\nSET lock_timeout = '5s';\nSET statement_timeout = '10min';\n"
    )
    assert block + "\nUPDATE alembic_version SET version_num='c0cc0cc0cc01'" in sql
    assert block in GUIDE  # the guide shows what the tools print
    linted = make(root, "lint", clean_env())
    assert linted.returncode == 0, linted.stdout + linted.stderr

    with fresh_database(server_url) as online, fresh_database(server_url) as offline:
        # psql refuses CREATE INDEX CONCURRENTLY inside a transaction block, so this
        # succeeding shows the rendering is right, not merely plausible.
        script = dbtools(root, ["sql"], clean_env(DATABASE_URL="postgresql://x@127.0.0.1:9/x"))
        applied = psql(offline, script.stdout)
        assert applied.returncode == 0, applied.stderr
        assert index_state(offline) == [("ix_users_email_name", True)]

        env = clean_env(DATABASE_URL=url_string(online))
        upgraded = dbtools(root, ["upgrade"], env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert index_state(online) == [("ix_users_email_name", True)]

        downgraded = dbtools(root, ["downgrade"], env)
        assert downgraded.returncode == 0, downgraded.stderr
        assert index_state(online) == []
