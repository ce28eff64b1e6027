"""Promise 3: a failing revision leaves the database at the last good revision.

The run applies the real chain and then a revision that fails (bad SQL, or a Python
exception) after it created a table: the database ends at the head of the real chain,
with nothing of the failed revision, and the message names the revision and the
statement. A revision file that does not load is named before anything is applied.
"""

import pytest

from dbtools.core.chain import script_directory
from tests.chain import HEAD, TABLES, free_table, in_model_schemas, model_columns, upgrades
from tests.harness import columns as tables_and_columns
from tests.repo_copy import copy_repo, write_revision
from tests.runs import cli_env, columns, error_line, log_rows, run, state, versions

BAD = "c3c3c3c3c3c3"
PROBE = free_table("tags")  # a table no model has taken
CREATE_TAGS = f'op.create_table("{PROBE}", sa.Column("id", sa.Integer, primary_key=True))'


@pytest.mark.parametrize(
    ("failing_line", "expected"),
    [
        (
            'op.execute("INSERT INTO no_such_table VALUES (1)")',
            [
                f"revision {BAD} (Seed the tags) failed in `INSERT INTO no_such_table VALUES (1)`",
                'relation "no_such_table" does not exist',
            ],
        ),
        (
            'raise ValueError("no tags today")',
            [f"revision {BAD} (Seed the tags) raised ValueError: no tags today at 2099_01_01_"],
        ),
    ],
    ids=["sql-error", "python-exception"],
)
def test_failing_revision_leaves_the_last_good_one(
    tmp_path, database_url, engine, failing_line, expected
):
    # The revision creates a table, then fails; the real chain runs first, in the same run.
    repo = copy_repo(tmp_path)
    write_revision(repo, BAD, HEAD, "Seed the tags.", f"{CREATE_TAGS}\n{failing_line}")
    result = run(repo, ["upgrade", "head"], cli_env(database_url))

    assert result.returncode != 0
    line = error_line(result.stderr)
    for part in [*expected, f"it was rolled back and the database stays at {HEAD}"]:
        assert part in line, line
    assert versions(engine) == [HEAD]
    assert columns(engine, PROBE) == []
    # The real chain's tables, in every schema the models use, are as its head made them.
    found = in_model_schemas(tables_and_columns(engine))
    assert found == {t: set(model_columns(t)) for t in TABLES}
    assert log_rows(engine) == upgrades()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            f'revision = "c3c3c3c3c3c3"\ndown_revision = "{HEAD}"\ndef upgrade(:\n    pass\n',
            "does not load: SyntaxError: invalid syntax (line 3)",
        ),
        (
            'revision = "c3c3c3c3c3c3"\ndown_revision = "0000deadbeef"\n',
            "names the parent revision 0000deadbeef, which no file in migrations/versions defines",
        ),
        (
            'import no_such_module\nrevision = "c3c3c3c3c3c3"\n',
            "does not load: ModuleNotFoundError: No module named 'no_such_module'",
        ),
    ],
    ids=["syntax-error", "missing-parent", "import-error"],
)
def test_broken_revision_file_is_named_before_anything_runs(
    tmp_path, database_url, engine, source, expected
):
    repo = copy_repo(tmp_path)
    broken = repo / "migrations" / "versions" / "2099_01_01_000000-c3c3c3c3c3c3_broken.py"
    broken.write_text(source)
    before = state(engine)
    result = run(repo, ["upgrade", "head"], cli_env(database_url))

    assert result.returncode != 0
    line = error_line(result.stderr)
    assert f"migrations/versions/{broken.name}" in line
    assert expected in line
    assert "nothing was applied" in line
    assert state(engine) == before


def test_failing_downgrade_names_its_revision_and_stays_there(tmp_path, database_url, engine):
    # The run goes down: the revision that failed is the one being reverted, and the
    # database stays at it (its downgrade rolled back).
    repo = copy_repo(tmp_path)
    head = script_directory().get_current_head()
    bad = "d0d0d0d0d0d0"
    write_revision(repo, bad, head, "Undo badly.", "pass", 'raise RuntimeError("cannot undo")')
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0

    # With consent or without it (what a step destroys is measured as it runs), the
    # failure is the revision's own.
    for consent in ({}, {"ALLOW_DATA_LOSS": "1"}):
        result = run(repo, ["downgrade", "-1"], {**env, **consent})

        assert result.returncode != 0
        line = error_line(result.stderr)
        assert f"revision {bad} (Undo badly) raised RuntimeError: cannot undo" in line, line
        assert f"the database stays at {bad}" in line, line
        assert versions(engine) == [bad]
