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

import pytest
import sqlalchemy as sa

from dbtools.core.paths import REPO_ROOT
from tests.chain import SCRIPTS, UNRELEASED
from tests.harness import columns, command, start
from tests.repo_copy import copy_repo, write_revision
from tests.runs import cli_env, error_line, run, state, versions, wait_for
from tests.sample_rows import fill

CHAIN = SCRIPTS


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
    assert line.startswith(f"error: downgrading revision {script.revision} "), line
    assert " would drop data: " in line, line
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


def test_downgrade_to_base_with_rows_stops_at_the_first_step_that_drops_data(database_url, engine):
    env = cli_env(database_url, CI="true")
    assert run(REPO_ROOT, ["upgrade", "head"], env).returncode == 0
    fill(engine, nullable_null=False)

    result = run(REPO_ROOT, ["downgrade", "base"], env)

    assert result.returncode == 1
    line = error_line(result.stderr)
    refused_at = line.removeprefix("error: downgrading revision ").split(" ", 1)[0]
    assert refused_at in {s.revision for s in CHAIN}, line
    # The steps before it lost nothing and were reverted; it and what is below it stay.
    assert versions(engine) == [refused_at]
    with engine.connect() as conn:
        for table in columns(engine):  # `name` in public, `schema.name` elsewhere
            quoted = ".".join(f'"{part}"' for part in table.split("."))
            assert conn.execute(sa.text(f"SELECT count(*) FROM {quoted}")).scalar() == 1


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


# What each downgrade step destroys is measured in its own transaction, not read from its
# SQL: each case below builds its own tables in a copy of the repository, on top of the
# chain's head, fills them with three rows, and checks a refusal leaves the database as
# it was (catalog, rows, version table, log), then that ALLOW_DATA_LOSS=1 goes through.

ALLOW = {"ALLOW_DATA_LOSS": "1"}


def grow(tmp_path, *steps: tuple[str, str]) -> tuple[object, list[str]]:
    """A copy of the repository with one revision per (upgrade, downgrade) on top of head."""
    repo = copy_repo(tmp_path)
    ids, down = [], CHAIN[-1].revision
    for number, (upgrade, downgrade) in enumerate(steps, 1):
        rev = uuid.uuid4().hex[:12]
        write_revision(repo, rev, down, f"Consent probe step {number}.", upgrade, downgrade)
        ids.append(rev)
        down = rev
    return repo, ids


def rows(engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def execute(engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def refused(repo, engine, env, args: list[str], *expected: str, absent: tuple[str, ...] = ()):
    """The downgrade exits 1 naming each of `expected` and none of `absent`; nothing changed."""
    before = state(engine)
    result = run(repo, ["downgrade", *args], env)
    assert result.returncode == 1, result.stderr
    line = error_line(result.stderr)
    assert "would drop data: " in line or "outside a transaction" in line, line
    assert "set ALLOW_DATA_LOSS=1" in line, line
    for item in expected:
        assert item in line, line
    for item in absent:
        assert item not in line, line
    assert state(engine) == before
    return line


def allowed(repo, env, args: list[str]) -> None:
    result = run(repo, ["downgrade", *args], {**env, **ALLOW})
    assert result.returncode == 0, result.stderr


TABLE = 'op.create_table("{0}", sa.Column("id", sa.Integer, primary_key=True){1})'


def test_a_multi_table_drop_counts_every_table(tmp_path, database_url, engine):
    repo, [rev] = grow(
        tmp_path,
        (
            TABLE.format("drop_a", "") + "\n" + TABLE.format("drop_b", ""),
            'op.execute("DROP TABLE drop_a, drop_b")',
        ),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(engine, "INSERT INTO drop_b (id) VALUES (1), (2), (3)")

    refused(repo, engine, env, ["-1"], "table drop_b (3 rows)", absent=("drop_a",))
    assert rows(engine, "SELECT count(*) FROM drop_b") == [(3,)]
    assert versions(engine) == [rev]
    # Alembic's own CLI runs the same env.py, so it is measured the same way.
    before = state(engine)
    alembic = subprocess.run(
        command(["downgrade", "-1"], "alembic"), cwd=repo, env=env, capture_output=True, text=True
    )
    assert alembic.returncode != 0
    assert "would drop data: table drop_b (3 rows)" in alembic.stderr, alembic.stderr
    assert state(engine) == before

    allowed(repo, env, ["-1"])
    assert "drop_b" not in columns(engine) and versions(engine) == [CHAIN[-1].revision]


def test_a_drop_across_renames_is_counted_under_the_name_it_has_then(
    tmp_path, database_url, engine
):
    repo, [first, second, third] = grow(
        tmp_path,
        (TABLE.format("renamed", ""), 'op.drop_table("renamed")'),
        (
            'op.add_column("renamed", sa.Column("note", sa.Text))',
            'op.drop_column("renamed", "note")',
        ),
        (
            'op.alter_column("renamed", "note", new_column_name="memo")\n'
            'op.rename_table("renamed", "renamed_now")',
            'op.rename_table("renamed_now", "renamed")\n'
            'op.alter_column("renamed", "memo", new_column_name="note")',
        ),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(engine, "INSERT INTO renamed_now (id, memo) VALUES (1, 'a'), (2, 'b'), (3, NULL)")

    # The rename step loses nothing and is reverted; the drop of the column is refused.
    result = run(repo, ["downgrade", first], env)
    assert result.returncode == 1, result.stderr
    line = error_line(result.stderr)
    assert "column renamed.note (2 values)" in line and second in line, line
    assert versions(engine) == [second]
    assert rows(engine, "SELECT id, note FROM renamed ORDER BY id") == [
        (1, "a"),
        (2, "b"),
        (3, None),
    ]

    allowed(repo, env, [first])
    assert versions(engine) == [first] and columns(engine)["renamed"] == {"id"}
    assert third not in line


def test_truncate_and_its_cascade_are_rows_deleted(tmp_path, database_url, engine):
    child = TABLE.format(
        "emptied_kid", ', sa.Column("parent_id", sa.Integer, sa.ForeignKey("emptied.id"))'
    )
    repo, [rev] = grow(
        tmp_path,
        (TABLE.format("emptied", "") + "\n" + child, 'op.execute("TRUNCATE emptied CASCADE")'),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(
        engine,
        "INSERT INTO emptied (id) VALUES (1), (2), (3)",
        "INSERT INTO emptied_kid (id, parent_id) VALUES (1, 1), (2, 2)",
    )

    refused(
        repo, engine, env, ["-1"], "table emptied (3 rows deleted)", "emptied_kid (2 rows deleted)"
    )
    assert rows(engine, "SELECT count(*) FROM emptied") == [(3,)] and versions(engine) == [rev]

    allowed(repo, env, ["-1"])
    assert rows(engine, "SELECT count(*) FROM emptied_kid") == [(0,)]


def test_delete_and_its_cascade_are_rows_deleted(tmp_path, database_url, engine):
    child = TABLE.format(
        "kid",
        ', sa.Column("parent_id", sa.Integer, sa.ForeignKey("parent.id", ondelete="CASCADE"))',
    )
    repo, [rev] = grow(
        tmp_path,
        (
            TABLE.format("parent", "") + "\n" + child,
            'op.execute("DELETE FROM parent WHERE id = 1")',
        ),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(
        engine,
        "INSERT INTO parent (id) VALUES (1), (2), (3)",
        "INSERT INTO kid (id, parent_id) VALUES (1, 1), (2, 1), (3, 2)",
    )

    refused(repo, engine, env, ["-1"], "table parent (1 row deleted)", "table kid (2 rows deleted)")
    assert rows(engine, "SELECT count(*) FROM kid") == [(3,)] and versions(engine) == [rev]

    allowed(repo, env, ["-1"])
    assert rows(engine, "SELECT id FROM kid") == [(3,)]


def test_a_narrowing_type_change_counts_the_values_it_changes(tmp_path, database_url, engine):
    repo, [first, second] = grow(
        tmp_path,
        (TABLE.format("people", ', sa.Column("name", sa.String(2))'), 'op.drop_table("people")'),
        (
            'op.alter_column("people", "name", type_=sa.String(20))',
            'op.alter_column("people", "name", type_=sa.String(2), '
            'postgresql_using="left(name, 2)")',
        ),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(engine, "INSERT INTO people (id, name) VALUES (1, 'Alexandra'), (2, 'Al'), (3, NULL)")

    refused(repo, engine, env, ["-1"], "column people.name (1 value changed)")
    assert rows(engine, "SELECT name FROM people ORDER BY id") == [("Alexandra",), ("Al",), (None,)]

    # When every value fits, the same narrowing changes nothing and needs no consent.
    execute(engine, "UPDATE people SET name = 'Bo' WHERE id = 1")
    done = run(repo, ["downgrade", "-1"], env)
    assert done.returncode == 0, done.stderr
    assert versions(engine) == [first]
    assert rows(engine, "SELECT name FROM people ORDER BY id") == [("Bo",), ("Al",), (None,)]

    # With consent, the narrowing that loses a value goes through.
    assert run(repo, ["upgrade", second], env).returncode == 0
    execute(engine, "UPDATE people SET name = 'Alexandra' WHERE id = 1")
    allowed(repo, env, ["-1"])
    assert rows(engine, "SELECT name FROM people ORDER BY id") == [("Al",), ("Al",), (None,)]


def test_an_update_that_overwrites_values_counts_them(tmp_path, database_url, engine):
    repo, [first, second] = grow(
        tmp_path,
        (TABLE.format("notes", ', sa.Column("note", sa.Text)'), 'op.drop_table("notes")'),
        ("pass", 'op.execute("UPDATE notes SET note = upper(note)")'),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(engine, "INSERT INTO notes (id, note) VALUES (1, 'a'), (2, 'b'), (3, NULL)")

    refused(repo, engine, env, ["-1"], "column notes.note (2 values changed)")
    assert rows(engine, "SELECT note FROM notes ORDER BY id") == [("a",), ("b",), (None,)]

    # The same UPDATE over values it leaves as they are changes nothing: no consent.
    execute(engine, "UPDATE notes SET note = upper(note)")
    done = run(repo, ["downgrade", "-1"], env)
    assert done.returncode == 0, done.stderr
    assert versions(engine) == [first]

    assert run(repo, ["upgrade", second], env).returncode == 0
    execute(engine, "UPDATE notes SET note = 'c' WHERE id = 3")
    allowed(repo, env, ["-1"])
    assert rows(engine, "SELECT note FROM notes ORDER BY id") == [("A",), ("B",), ("C",)]


REBUILD_WITHOUT_SAD = """
op.execute("UPDATE feelings SET mood = 'happy' WHERE mood = 'sad'")
op.execute("ALTER TYPE mood RENAME TO mood_old")
op.execute("CREATE TYPE mood AS ENUM ('happy')")
op.execute("ALTER TABLE feelings ALTER COLUMN mood TYPE mood USING mood::text::mood")
op.execute("DROP TYPE mood_old")
"""


def test_an_enum_value_removed_while_in_use_is_counted(tmp_path, database_url, engine):
    repo, [first, second] = grow(
        tmp_path,
        (
            "op.execute(\"CREATE TYPE mood AS ENUM ('happy')\")\n"
            + TABLE.format(
                "feelings", ', sa.Column("mood", sa.Enum(name="mood", create_type=False))'
            ),
            'op.drop_table("feelings")\nop.execute("DROP TYPE mood")',
        ),
        ("op.execute(\"ALTER TYPE mood ADD VALUE 'sad'\")", REBUILD_WITHOUT_SAD),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(engine, "INSERT INTO feelings (id, mood) VALUES (1, 'happy'), (2, 'sad'), (3, 'sad')")

    refused(repo, engine, env, ["-1"], "value 'sad' of type mood (2 in use)")
    assert rows(engine, "SELECT count(*) FROM feelings WHERE mood = 'sad'") == [(2,)]

    # Not in use: the same rebuild loses nothing and needs no consent.
    execute(engine, "DELETE FROM feelings WHERE mood = 'sad'")
    done = run(repo, ["downgrade", "-1"], env)
    assert done.returncode == 0, done.stderr
    assert versions(engine) == [first]
    assert rows(engine, "SELECT enum_range(NULL::mood)::text") == [("{happy}",)]

    assert run(repo, ["upgrade", second], env).returncode == 0
    execute(engine, "UPDATE feelings SET mood = 'sad' WHERE id = 1")
    allowed(repo, env, ["-1"])
    assert rows(engine, "SELECT mood::text FROM feelings") == [("happy",)]


def test_renaming_an_enum_type_or_value_loses_nothing(tmp_path, database_url, engine):
    repo, [first, _second] = grow(
        tmp_path,
        (
            "op.execute(\"CREATE TYPE hue AS ENUM ('red', 'blue')\")\n"
            + TABLE.format("paint", ', sa.Column("hue", sa.Enum(name="hue", create_type=False))'),
            'op.drop_table("paint")\nop.execute("DROP TYPE hue")',
        ),
        (
            "op.execute(\"ALTER TYPE hue RENAME VALUE 'blue' TO 'navy'\")\n"
            'op.execute("ALTER TYPE hue RENAME TO colour")',
            'op.execute("ALTER TYPE colour RENAME TO hue")\n'
            "op.execute(\"ALTER TYPE hue RENAME VALUE 'navy' TO 'blue'\")",
        ),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(engine, "INSERT INTO paint (id, hue) VALUES (1, 'red'), (2, 'navy'), (3, 'navy')")

    done = run(repo, ["downgrade", "-1"], env)

    assert done.returncode == 0, done.stderr
    assert versions(engine) == [first]
    assert rows(engine, "SELECT hue::text FROM paint ORDER BY id") == [
        ("red",),
        ("blue",),
        ("blue",),
    ]


def test_a_step_outside_a_transaction_needs_consent(tmp_path, database_url, engine):
    repo, [first, second] = grow(
        tmp_path,
        (
            TABLE.format("indexed", ', sa.Column("note", sa.Text)'),
            'op.drop_table("indexed")',
        ),
        (
            'op.create_index("ix_indexed_note", "indexed", ["note"])',
            'op.drop_column("indexed", "note")\n'
            "with op.get_context().autocommit_block():\n"
            '    op.execute("SELECT 1")',
        ),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0  # empty: nothing to lose

    line = refused(repo, engine, env, ["-1"], "outside a transaction", second)
    assert "note" in columns(engine)["indexed"] and versions(engine) == [second], line

    allowed(repo, env, ["-1"])
    assert columns(engine)["indexed"] == {"id"} and versions(engine) == [first]


def test_a_concurrent_index_drop_needs_no_consent_but_what_ran_before_it_is_measured(
    tmp_path, database_url, engine
):
    """This repository's blocks outside a transaction that destroy no data by their nature
    (an index dropped concurrently) run without consent; what the step did inside its
    transaction before leaving it is measured first, and refused if it destroyed data."""
    repo, [first, second] = grow(
        tmp_path,
        (
            TABLE.format("kept", ', sa.Column("note", sa.Text)'),
            'op.drop_table("kept")',
        ),
        (
            'op.create_index_concurrently("ix_kept_note", "kept", ["note"])',
            'op.drop_column("kept", "note")\nop.drop_index_concurrently("ix_kept_note", "kept")',
        ),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(engine, "INSERT INTO kept (id, note) VALUES (1, 'a'), (2, 'b')")

    line = refused(repo, engine, env, ["-1"], "column kept.note (2 values)", second)
    assert "outside a transaction" not in line

    execute(engine, "UPDATE kept SET note = NULL")  # nothing left to lose
    done = run(repo, ["downgrade", "-1"], env)
    assert done.returncode == 0, done.stderr
    assert columns(engine)["kept"] == {"id"} and versions(engine) == [first]
    assert rows(engine, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_kept_note'") == [
        (0,)
    ]


SLEEPING = """
SELECT count(*) > 0 FROM pg_stat_activity
WHERE query LIKE '%pg_sleep(3)%' AND pid <> pg_backend_pid()
"""
SLOW_FILL = """
op.add_column("raced", sa.Column("note", sa.Text))
op.execute("UPDATE raced SET note = 'kept'")
op.execute("SELECT pg_sleep(3)")
"""


def test_a_downgrade_queued_behind_an_upgrade_measures_what_it_really_reverts(
    tmp_path, database_url, engine, figure
):
    repo, [first, second] = grow(
        tmp_path,
        (TABLE.format("raced", ""), 'op.drop_table("raced")'),
        (SLOW_FILL, 'op.drop_column("raced", "note")'),
    )
    env = cli_env(database_url)
    assert run(repo, ["upgrade", first], env).returncode == 0
    execute(engine, "INSERT INTO raced (id) VALUES (1), (2), (3)")
    upgrading = start(repo, ["upgrade", "head"], env)
    try:
        wait_for(engine, SLEEPING)
        # Started while the upgrade holds the lock: at `first` there is nothing to revert.
        downgrading = run(repo, ["downgrade", first], env)
    finally:
        upgraded = upgrading.communicate(timeout=120)
    assert upgrading.returncode == 0, upgraded[1]
    assert downgrading.returncode == 1, downgrading.stderr
    line = error_line(downgrading.stderr)
    assert "column raced.note (3 values)" in line, line
    assert versions(engine) == [second]
    lost = line.split("would drop data: ", 1)[1].split(";", 1)[0]
    figure("downgrade queued behind upgrade", f"upgrade exited 0; downgrade refused: {lost}")
    assert rows(engine, "SELECT note FROM raced") == [("kept",)] * 3

    allowed(repo, env, [first])
    assert versions(engine) == [first] and columns(engine)["raced"] == {"id"}


def test_a_table_locked_elsewhere_makes_the_measuring_give_up_after_the_lock_timeout(
    tmp_path, database_url, engine
):
    # The measuring reads every table that holds rows: one another session holds locked
    # is waited for no longer than any statement of the revision would wait.
    repo, [rev] = grow(
        tmp_path,
        (
            TABLE.format("locked_away", "") + "\n" + TABLE.format("dropped", ""),
            'op.drop_table("dropped")',
        ),
    )
    env = cli_env(database_url, MIGRATION_LOCK_TIMEOUT="1s")
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    execute(engine, "INSERT INTO locked_away (id) VALUES (1), (2), (3)")
    before = state(engine)
    with engine.connect() as holder:
        holder.execute(sa.text("LOCK TABLE locked_away IN ACCESS EXCLUSIVE MODE"))
        result = run(repo, ["downgrade", "-1"], env)
        holder.rollback()

    assert result.returncode == 1, result.stderr
    line = error_line(result.stderr)
    assert "gave up after MIGRATION_LOCK_TIMEOUT=1s waiting for a lock on" in line, line
    assert "locked_away" in line, line
    assert state(engine) == before and versions(engine) == [rev]
    assert run(repo, ["downgrade", "-1"], env).returncode == 0
