"""Batched backfills, the statement timeout of steps outside a transaction, and the
offline rendering of every safe form.

A revision chained off the current head and the test's own table (tests/own_table.py, in
a copy of the repository) adds a column to that table,
backfills it in batches, then uses every safe-form operation. Online it fills every row,
one committed batch at a time, with a progress line per batch; interrupted, it resumes at
the rows still to do. `make sql` renders the same steps; psql runs that script to the
same catalog and rows as `make upgrade`.
"""

import signal

from sqlalchemy import Engine, text

import schema
from dbtools.core.catalog import differences
from dbtools.core.chain import script_directory
from tests import own_table
from tests.chain import free_table
from tests.harness import start
from tests.pg import catalog, fresh_database
from tests.repo_copy import copy_repo, psql, write_revision
from tests.runs import cli_env, error_line, run, slow_function, versions, wait_for

HEAD = script_directory().get_current_head()
NEW = "a7a7a7a7a7a7"
ROWS = 10
# The table the revisions change, and the revision before NEW (where a failed run stays).
TABLE, BEFORE = own_table.TABLE, own_table.REVISION

EVERY_FORM = f"""
op.add_column("{TABLE}", sa.Column("nickname", sa.Text()), if_not_exists=True)
op.backfill_in_batches(
    "{TABLE}", set_="nickname = {{set_}}", where="nickname IS NULL", batch_size=3
)
op.create_index_concurrently("ix_{TABLE}_nickname", "{TABLE}", ["nickname"])
op.add_check_not_valid("ck_{TABLE}_age_positive", "{TABLE}", "age > 0")
op.add_foreign_key_not_valid("fk_{TABLE}_id_{TABLE}", "{TABLE}", "{TABLE}", ["id"], ["id"])
op.set_not_null_safely("{TABLE}", "nickname")
op.add_unique_using_index("uq_{TABLE}_nickname", "{TABLE}", ["nickname"])
"""
UNDO = f"""
op.drop_constraint("uq_{TABLE}_nickname", "{TABLE}")
op.drop_constraint("fk_{TABLE}_id_{TABLE}", "{TABLE}")
op.drop_constraint("ck_{TABLE}_age_positive", "{TABLE}")
op.drop_index("ix_{TABLE}_nickname", "{TABLE}")
op.drop_column("{TABLE}", "nickname")
"""


def own_copy(tmp_path):
    """A copy of the repository with the own table's revision after head."""
    root = copy_repo(tmp_path)
    own_table.add_revision(root, HEAD)
    return root


def repo_with(tmp_path, set_: str = "name"):
    root = own_copy(tmp_path)
    upgrade = EVERY_FORM.replace("{set_}", set_)
    write_revision(root, NEW, BEFORE, "Every safe form.", upgrade, UNDO)
    return root


def with_people(root, url, engine: Engine) -> None:
    """The chain and the own table applied, with ROWS people in it."""
    assert run(root, ["upgrade", BEFORE], cli_env(url)).returncode == 0
    own_table.insert(engine, ROWS)


def nicknames(engine: Engine) -> list[str | None]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"SELECT nickname FROM {TABLE} ORDER BY id"))]


def test_backfill_updates_every_row_in_committed_batches(tmp_path, database_url, engine):
    root = repo_with(tmp_path)
    with_people(root, database_url, engine)
    done = run(root, ["upgrade", "head"], cli_env(database_url))

    assert done.returncode == 0, done.stderr
    assert nicknames(engine) == [f"person {i}" for i in range(1, ROWS + 1)]
    batches = -(-ROWS // 3)
    for number in range(1, batches + 1):
        assert f"Backfill {TABLE}: batch {number} of {batches}" in done.stderr
    assert f"{ROWS} rows so far" in done.stderr
    assert versions(engine) == [NEW]


SLOW_NAME = slow_function("slow_name", 0.3)
BACKFILLING = (
    "SELECT count(*) > 0 FROM pg_stat_activity "
    f"WHERE state = 'active' AND query LIKE 'UPDATE {TABLE} SET nickname%'"
)


def test_interrupted_backfill_keeps_its_batches_and_resumes(tmp_path, database_url, engine):
    root = repo_with(tmp_path, set_="slow_name(name)")
    with_people(root, database_url, engine)
    with engine.begin() as conn:
        conn.execute(text(SLOW_NAME))
    env = cli_env(database_url)

    migration = start(root, ["upgrade", "head"], env)
    wait_for(engine, BACKFILLING)
    wait_for(engine, f"SELECT count(*) >= 3 FROM {TABLE} WHERE nickname IS NOT NULL")
    migration.send_signal(signal.SIGTERM)
    _, stderr = migration.communicate(timeout=60)

    line = error_line(stderr)
    assert "interrupted by SIGTERM" in line
    assert "more like it (batches)" in line or f"UPDATE {TABLE} SET nickname" in line, line
    done_before = [n for n in nicknames(engine) if n is not None]
    assert 3 <= len(done_before) < ROWS  # whole batches committed, not the rest
    assert len(done_before) % 3 == 0
    assert versions(engine) == [BEFORE]

    again = run(root, ["upgrade", "head"], env)
    assert again.returncode == 0, again.stderr
    assert f"Backfill {TABLE}: batch 1 of {-(-(ROWS - len(done_before)) // 3)}" in again.stderr
    assert nicknames(engine) == [f"person {i}" for i in range(1, ROWS + 1)]
    assert versions(engine) == [NEW]


def test_make_sql_of_the_safe_forms_builds_what_make_upgrade_builds(tmp_path, server_url):
    root = repo_with(tmp_path)
    with fresh_database(server_url) as online, fresh_database(server_url) as offline:
        on, off = schema.make_engine(online), schema.make_engine(offline)
        try:
            with_people(root, online, on)
            with_people(root, offline, off)
            assert run(root, ["upgrade", "head"], cli_env(online)).returncode == 0
            script = run(root, ["sql", "--from", BEFORE], cli_env(offline))
            assert script.returncode == 0, script.stderr
            applied = psql(offline, script.stdout)
            assert applied.returncode == 0, applied.stderr
            assert differences(catalog(online), catalog(offline)) == []
            assert nicknames(on) == nicknames(off)
            assert versions(off) == versions(on) == [NEW]
        finally:
            on.dispose()
            off.dispose()


SLOW_KEY = slow_function("slow_key", 0.1, immutable=True)
SLOW_INDEX = f"ix_{TABLE}_slow"


def test_steps_outside_a_transaction_have_their_own_statement_timeout(
    tmp_path, database_url, engine
):
    root = own_copy(tmp_path)
    write_revision(
        root,
        NEW,
        BEFORE,
        "A slow index.",
        f'op.create_index_concurrently("{SLOW_INDEX}", "{TABLE}", [sa.text("slow_key(name)")])',
        f'op.drop_index("{SLOW_INDEX}", "{TABLE}")',
    )
    with_people(root, database_url, engine)  # 10 rows: a build of about one second
    with engine.begin() as conn:
        conn.execute(text(SLOW_KEY))

    # MIGRATION_CONCURRENT_STATEMENT_TIMEOUT bounds the build ...
    short = cli_env(database_url, MIGRATION_CONCURRENT_STATEMENT_TIMEOUT="300ms")
    failed = run(root, ["upgrade", "head"], short)
    line = error_line(failed.stderr)
    assert "ran longer than MIGRATION_CONCURRENT_STATEMENT_TIMEOUT=300ms" in line, line
    assert f"the INVALID index {SLOW_INDEX} it left was dropped" in line
    assert versions(engine) == [BEFORE]

    # ... and MIGRATION_STATEMENT_TIMEOUT, meant for steps that block the table, does not.
    long_enough = cli_env(database_url, MIGRATION_STATEMENT_TIMEOUT="300ms")
    done = run(root, ["upgrade", "head"], long_enough)
    assert done.returncode == 0, done.stderr
    assert versions(engine) == [NEW]


SPARSE = "a8a8a8a8a8a8"
SPARSE_TABLE = free_table("readings")
# A statement-level trigger counts the UPDATE statements the backfill ran.
COUNTING = f"""
CREATE TABLE {SPARSE_TABLE} (id bigint PRIMARY KEY, value int);
INSERT INTO {SPARSE_TABLE} VALUES (1, NULL), (1000000000000, NULL), (5, 7);
CREATE TABLE update_statements (n int NOT NULL);
INSERT INTO update_statements VALUES (0);
CREATE FUNCTION count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE update_statements SET n = n + 1; RETURN NULL; END $$;
CREATE TRIGGER counted AFTER UPDATE ON {SPARSE_TABLE}
FOR EACH STATEMENT EXECUTE FUNCTION count_update();
"""


def test_a_sparse_key_backfill_costs_by_rows_not_by_key_range(tmp_path, database_url, engine):
    root = copy_repo(tmp_path)
    step = (
        f'op.backfill_in_batches("{SPARSE_TABLE}", set_="value = 0", where="value IS NULL", '
        "batch_size=1)"
    )
    write_revision(root, SPARSE, HEAD, "Sparse keys.", step)
    with engine.begin() as conn:
        for statement in COUNTING.split(";\n"):
            if statement.strip():
                conn.execute(text(statement))

    done = run(root, ["upgrade", "head"], cli_env(database_url), timeout=60)

    assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, value FROM {SPARSE_TABLE} ORDER BY id")).all()
        statements = conn.execute(text("SELECT n FROM update_statements")).scalar()
    assert [tuple(r) for r in rows] == [(1, 0), (5, 7), (1000000000000, 0)]
    assert statements == 2  # two batches: one per row that matched, whatever the key range
    assert "batch 2 of 2" in done.stderr
    assert len([ln for ln in done.stderr.splitlines() if "Backfill" in ln]) <= 12
    assert versions(engine) == [SPARSE]
