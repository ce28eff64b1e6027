"""Drift by definition: a CHECK, an index, a foreign key or a default that keeps its name but
changes what it says is seen, and `make revision` writes the change.

Each test grows a copy of the repository with a table of its own (no example table) and
asserts what PostgreSQL holds afterwards.
"""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import schema
from tests.harness import clean_env, make
from tests.own_models import add_module, drift_lines, edit, free_table, revision
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools

JOBS = free_table("jobs")
CLS = "".join(p.title() for p in JOBS.split("_"))
CHECK = f"ck_{JOBS}_status_known"
INDEX = f"ix_{JOBS}_queued"

MODEL = f'''"""The `{JOBS}` table: work waiting to run."""

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class {CLS}(Base):
    __tablename__ = "{JOBS}"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running')", name="status_known"),
        Index("{INDEX}", "status", postgresql_where=text("status = 'queued'")),
        {{"comment": "Work waiting to run."}},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), primary_key=True, comment="Surrogate key."
    )
    status: Mapped[str] = mapped_column(
        String, server_default=text("'queued'"), comment="Where the job stands."
    )
    attempts: Mapped[int] = mapped_column(
        BigInteger, server_default=text("0"), comment="How often it ran."
    )
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("{JOBS}.id"), index=True, comment="The job that started it."
    )
'''


@pytest.fixture
def grown(tmp_path, database_url):
    """A copy with the jobs table's revision applied to `database_url`; models match."""
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(database_url))
    add_module(root, JOBS, [CLS], MODEL)
    revision(root, env, f"Create the {JOBS} table", "A new table: nothing existing is locked.")
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert dbtools(root, ["upgrade"], env).returncode == 0
    return root, env


def query(url, sql: str, params: dict | None = None) -> list:
    engine = schema.make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params or {})
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def constraint_def(url, name: str) -> str:
    [(definition,)] = query(
        url, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :n", {"n": name}
    )
    return definition


def test_a_changed_check_is_drift_and_the_revision_writes_the_safe_change(grown, database_url):
    root, env = grown
    with pytest.raises(IntegrityError):
        query(database_url, f"INSERT INTO {JOBS} (status) VALUES ('done')")
    edit(root / "schema" / f"{JOBS}.py", "'queued', 'running')", "'queued', 'running', 'done')")

    checked = make(root, "check", env)
    assert checked.returncode != 0
    [line] = drift_lines(checked.stdout)
    assert f"constraint {CHECK} on {JOBS}: changed" in line
    assert "'done'" in line  # what the models say, as PostgreSQL prints it

    path = revision(root, env, "Allow done jobs", "The CHECK accepts done jobs.")
    source = path.read_text()
    upgrade = "".join(source.split("def upgrade", 1)[1].split("def downgrade", 1)[0].split())
    assert f'op.drop_constraint(op.f("{CHECK}"),"{JOBS}",type_="check")' in upgrade
    assert f'op.add_check_not_valid(op.f("{CHECK}"),"{JOBS}",' in upgrade
    assert upgrade.index("drop_constraint") < upgrade.index("add_check_not_valid")
    again = make(root, "check", env)
    assert again.returncode == 0, again.stdout + again.stderr

    assert dbtools(root, ["upgrade"], env).returncode == 0
    assert "'done'" in constraint_def(database_url, CHECK)
    [(validated,)] = query(
        database_url, "SELECT convalidated FROM pg_constraint WHERE conname = :n", {"n": CHECK}
    )
    assert validated
    query(database_url, f"INSERT INTO {JOBS} (status) VALUES ('done')")

    query(database_url, f"DELETE FROM {JOBS}")
    # The downgrade validates the old CHECK in a transaction of its own: no data goes,
    # so it needs no ALLOW_DATA_LOSS=1.
    downgraded = dbtools(root, ["downgrade"], env)
    assert downgraded.returncode == 0, downgraded.stderr
    assert "'done'" not in constraint_def(database_url, CHECK)
    [(validated,)] = query(  # the old CHECK back, added NOT VALID and then validated
        database_url, "SELECT convalidated FROM pg_constraint WHERE conname = :n", {"n": CHECK}
    )
    assert validated


def test_a_changed_index_predicate_is_drift(grown, database_url):
    root, env = grown
    edit(root / "schema" / f"{JOBS}.py", "status = 'queued'", "status IN ('queued', 'running')")
    checked = make(root, "check", env)
    assert checked.returncode != 0
    [line] = drift_lines(checked.stdout)
    assert f"index {INDEX} on {JOBS}: changed" in line

    path = revision(root, env, "Index running jobs too", "The partial index covers running jobs.")
    upgrade = "".join(path.read_text().split("def upgrade", 1)[1].split("def downgrade")[0].split())
    assert f'op.create_index_concurrently("{INDEX}","{JOBS}",["status"],' in upgrade
    assert "postgresql_where=sa.text(\"statusIN('queued','running')\")" in upgrade
    again = make(root, "check", env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert dbtools(root, ["upgrade"], env).returncode == 0
    [(definition,)] = query(
        database_url, "SELECT pg_get_indexdef(CAST(:n AS regclass))", {"n": INDEX}
    )
    assert "'running'" in definition


def test_a_foreign_key_made_deferrable_is_drift(grown, database_url):
    root, env = grown
    fk = f"fk_{JOBS}_parent_id_{JOBS}"
    edit(
        root / "schema" / f"{JOBS}.py",
        f'ForeignKey("{JOBS}.id")',
        f'ForeignKey("{JOBS}.id", deferrable=True, initially="DEFERRED")',
    )
    checked = make(root, "check", env)
    assert checked.returncode != 0
    [line] = drift_lines(checked.stdout)
    assert f"constraint {fk} on {JOBS}: changed" in line
    assert "DEFERRABLE INITIALLY DEFERRED in the models" in line

    path = revision(root, env, "Defer the parent check", "The parent is checked at commit.")
    upgrade = "".join(path.read_text().split("def upgrade", 1)[1].split("def downgrade")[0].split())
    assert "op.add_foreign_key_not_valid(" in upgrade
    again = make(root, "check", env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert dbtools(root, ["upgrade"], env).returncode == 0
    assert "DEFERRABLE INITIALLY DEFERRED" in constraint_def(database_url, fk)
