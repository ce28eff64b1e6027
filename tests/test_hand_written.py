"""Revisions written by hand: `make revision EMPTY=1`, Alembic's own `revision -m`, and
`alembic check`, which runs the same hook as autogenerate but must never be refused.

A hand-written revision comes from the same template, keeps the template's `op` and `sa`
imports whatever the post-write hooks do, and runs: its first `op.execute` reaches the
database. Each copy first gets the test's own table (tests/own_table.py) after head: the
data step fills in its rows, and the drift `alembic check` names is a column added to it.
"""

import subprocess
import sys

from sqlalchemy import text

import schema
from tests import own_models, own_table
from tests.chain import HEAD
from tests.harness import clean_env, make
from tests.pg import column, url_string, versions
from tests.repo_copy import copy_repo, dbtools

TABLE = own_table.TABLE
MESSAGE = f"Name the unnamed {TABLE}"
DATA_STEP = f"""
    people = sa.table("{TABLE}", sa.column("name", sa.String))
    op.execute(people.update().where(people.c.name.is_(None)).values(name="(unnamed)"))
"""


def alembic(root, args, env):
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def fill_upgrade(path, body: str) -> None:
    source = path.read_text()
    assert source.count("    pass\n") == 2, source
    path.write_text(
        source.replace("def upgrade() -> None:\n    pass\n", f"def upgrade() -> None:{body}", 1)
    )


def names(url) -> list:
    return column(url, f"SELECT name FROM {TABLE} ORDER BY id")


def test_make_revision_empty_writes_a_data_revision_that_runs(tmp_path, server_url, database_url):
    root = copy_repo(tmp_path)
    own_table.add(root, HEAD)  # model and revision: the head the new revision follows
    env = clean_env(DATABASE_URL=url_string(server_url))
    # As a team does after adding a model (the import line goes where isort wants it).
    assert make(root, "format", env).returncode == 0
    before = {p.name for p in (root / "migrations" / "versions").glob("*.py")}
    done = make(root, "revision", env, m=MESSAGE, EMPTY="1")
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = own_models.new_revisions(root, before)
    source = path.read_text()
    # The template, imports and all: nothing stripped them.
    assert source.startswith(f'"""{MESSAGE}')
    assert "import sqlalchemy as sa\nfrom alembic import op\n" in source
    assert f'down_revision: str | Sequence[str] | None = "{own_table.REVISION}"' in source
    # Its SQL and the head file came with it.
    assert (root / "migrations" / "HEAD").read_text() == f"{own_models.revision_id(path)}\n"

    fill_upgrade(path, DATA_STEP)
    own_models.write_docstring(path, f"Fills in missing names; reads and writes {TABLE} rows only.")
    assert make(root, "generate", env).returncode == 0
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    target = clean_env(DATABASE_URL=url_string(database_url))
    assert dbtools(root, ["upgrade", own_table.REVISION], target).returncode == 0
    engine = schema.make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {TABLE} (email) VALUES ('a@example.org')"))
    engine.dispose()
    upgraded = dbtools(root, ["upgrade"], target)
    assert upgraded.returncode == 0, upgraded.stderr
    assert names(database_url) == ["(unnamed)"]


def test_plain_alembic_revision_keeps_op_and_runs(tmp_path, database_url):
    root = copy_repo(tmp_path)
    own_table.add_revision(root, HEAD)  # the table the data step writes
    env = clean_env(DATABASE_URL=url_string(database_url))
    before = {p.name for p in (root / "migrations" / "versions").glob("*.py")}
    done = alembic(root, ["revision", "-m", MESSAGE], env)
    assert done.returncode == 0, done.stderr
    [path] = own_models.new_revisions(root, before)
    assert "from alembic import op\n" in path.read_text()
    fill_upgrade(path, DATA_STEP)
    upgraded = alembic(root, ["upgrade", "head"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert versions(database_url) == [own_models.revision_id(path)]


def test_alembic_check_passes_on_a_clean_tree_and_names_drift(tmp_path, database_url):
    root = copy_repo(tmp_path)
    own_table.add(root, HEAD)
    env = clean_env(DATABASE_URL=url_string(database_url))
    assert alembic(root, ["upgrade", "head"], env).returncode == 0

    clean = alembic(root, ["check"], env)
    assert clean.returncode == 0, clean.stderr
    assert "No new upgrade operations detected." in clean.stdout + clean.stderr

    column = "phone"  # not one of own_table.COLUMNS
    # The model's class ends its module: one more line is one more column.
    added = f"    {column}: Mapped[str | None] = mapped_column(String)\n"
    (root / "schema" / f"{own_table.MODULE}.py").write_text(own_table.MODEL + added)
    drifted = alembic(root, ["check"], env)
    assert drifted.returncode != 0
    assert "New upgrade operations detected" in drifted.stderr
    assert f"'{TABLE}', Column('{column}'" in drifted.stderr
    assert "already match" not in drifted.stderr
