"""The suite grows with the chain: a team's third revision is covered without new tests.

In a copy of the repository a team adds a second model module through `make revision`,
writes the docstring, and then `make check` passes and the copy's own per-revision tests
(every revision up, down and up again, downgrade leaves no trace, models match the
migrations, each table as the models describe it) run over the grown chain and pass.
"""

import shutil
import subprocess
import sys

from sqlalchemy import text

import schema
from dbtools.core.paths import REPO_ROOT
from tests import own_models, team
from tests.harness import clean_env, make
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools

PER_REVISION_TESTS = ("tests/test_migrations.py", "tests/test_new_revisions_leave_no_trace.py")


def copy_with_tests(tmp_path):
    root = copy_repo(tmp_path)
    shutil.copytree(REPO_ROOT / "tests", root / "tests")
    return root


def enum_values(url, name: str) -> list[str]:
    engine = schema.make_engine(url)
    try:
        with engine.connect() as conn:
            sql = (
                "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                "WHERE t.typname = :name ORDER BY e.enumsortorder"
            )
            return list(conn.execute(text(sql), {"name": name}).scalars())
    finally:
        engine.dispose()


def relations(url) -> set[str]:
    engine = schema.make_engine(url)
    try:
        with engine.connect() as conn:
            sql = "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            return set(conn.execute(text(sql)).scalars())
    finally:
        engine.dispose()


def test_a_team_revision_passes_check_and_the_per_revision_tests(
    tmp_path, server_url, database_url
):
    root = copy_with_tests(tmp_path)
    env = clean_env(DATABASE_URL=url_string(server_url))
    team.add_model(root)
    assert make(root, "format", env).returncode == 0  # sorts the new import and __all__

    path = own_models.make_revision(root, env, "Create the orders table")
    source = path.read_text()
    # The enum's type is created before the table and dropped after it.
    assert source.index(".create(op.get_bind())") < source.index("op.create_table(")
    assert source.index(f'op.drop_table("{team.TABLE}")') < source.index(".drop(op.get_bind())")

    own_models.write_docstring(path, team.DOCSTRING)
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    docs = (root / "docs" / "schema.md").read_text()  # generated with the revision
    assert f"| `{team.ENUM}` | `pending`, `paid` |" in docs
    assert f"(`{team.FOREIGN_KEY}`, on delete cascade)" in docs
    assert f"- `{team.CHECK}`: `quantity > 0`" in docs

    # The copy's own per-revision tests, on the grown chain, on the suite's server.
    tests = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"),
            # Its own temporary folder: pytest's rotation of the shared one must never
            # reach this run's server.
            *("--basetemp", str(tmp_path / "inner"), *PER_REVISION_TESTS),
        ],
        cwd=root,
        env=clean_env(TEST_DATABASE_URL=url_string(server_url)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout[-4000:]
    assert f"test_head_builds_each_table_the_models_describe[{team.TABLE}] PASSED" in tests.stdout
    assert "test_downgrade_leaves_no_trace PASSED" in tests.stdout

    # And on a database of this test: the type comes and goes with its revision.
    target = clean_env(DATABASE_URL=url_string(database_url))
    assert dbtools(root, ["upgrade"], target).returncode == 0
    assert enum_values(database_url, team.ENUM) == team.ENUM_VALUES
    assert {team.TABLE, team.INDEX} <= relations(database_url)
    assert dbtools(root, ["downgrade"], target).returncode == 0
    assert enum_values(database_url, team.ENUM) == []
    assert team.TABLE not in relations(database_url)
    upgraded = dbtools(root, ["upgrade"], target)
    assert upgraded.returncode == 0, upgraded.stderr
    assert enum_values(database_url, team.ENUM) == team.ENUM_VALUES
