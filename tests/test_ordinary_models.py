"""Ordinary SQLAlchemy works end to end: `make revision`, `make check` clean, `make upgrade`,
`make verify` matches, with the names PostgreSQL holds as the models give them.

A copy of the repository grows a table of its own (no example table) using
`Boolean(create_constraint=True)`, `unique=True` on the key, `Enum(native_enum=False)`, a
CHECK named whole, a CHECK named by the convention, and one whose name is over 63 bytes;
then a hand-written revision drops and adds a CHECK by its full name.
"""

import pytest
from sqlalchemy import text

import schema
from schema.naming import truncated
from tests.harness import clean_env, last_error, make
from tests.own_models import add_module, drift_lines, free_table, revision
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools, write_revision

RUNS = free_table("runs")
CLS = "".join(p.title() for p in RUNS.split("_"))
LONG = "stage_is_one_of_the_lifecycle_stages_the_tracking_server_knows_about"

MODEL = f'''"""The `{RUNS}` table: one run of an experiment."""

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Enum, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class {CLS}(Base):
    __tablename__ = "{RUNS}"
    __table_args__ = (
        CheckConstraint("stage IN ('active', 'deleted')", name="{RUNS}_lifecycle_stage"),
        CheckConstraint("stage <> ''", name="stage_not_empty"),
        CheckConstraint("length(stage) < 20", name="{LONG}"),
        {{"comment": "One run of an experiment."}},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, unique=True, comment="Surrogate key."
    )
    is_nan: Mapped[bool] = mapped_column(
        Boolean(create_constraint=True), default=False, comment="Whether the value is NaN."
    )
    kind: Mapped[str] = mapped_column(
        Enum("local", "remote", name="run_kind", native_enum=False, create_constraint=True),
        comment="Where it ran.",
    )
    stage: Mapped[str] = mapped_column(String, comment="Lifecycle stage.")
'''


def checks(url) -> list[str]:
    engine = schema.make_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT conname FROM pg_constraint WHERE contype = 'c' "
                        "AND conrelid = CAST(:t AS regclass) ORDER BY conname"
                    ),
                    {"t": RUNS},
                ).scalars()
            )
    finally:
        engine.dispose()


def test_ordinary_constructs_go_through_revision_check_upgrade_and_verify(
    tmp_path, server_url, database_url
):
    root = copy_repo(tmp_path)
    env = clean_env(
        DATABASE_URL=url_string(database_url), VERIFY_SCRATCH_URL=url_string(server_url)
    )
    add_module(root, RUNS, [CLS], MODEL)
    revision(root, env, f"Create the {RUNS} table", "A new table: nothing existing is locked.")
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    upgraded = dbtools(root, ["upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert checks(database_url) == sorted(
        [
            f"{RUNS}_lifecycle_stage",  # kept as given
            f"ck_{RUNS}_stage_not_empty",  # named by the convention
            truncated(f"ck_{RUNS}_{LONG}"),  # cut as PostgreSQL cuts it
            f"ck_{RUNS}_run_kind",  # the non-native enum's CHECK, named after the type
        ]
    )
    verified = make(root, "verify", env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # A hand-written revision names constraints whole; they are never prefixed again.
    head = (root / "migrations" / "HEAD").read_text().strip()
    write_revision(
        root,
        "aa00000000a1",
        head,
        "Tighten the stage check by hand.",
        f"""
        op.waive_lint("ban-drop-constraint", reason="added again right below")
        op.drop_constraint("ck_{RUNS}_stage_not_empty", "{RUNS}", type_="check")
        op.create_check_constraint("ck_{RUNS}_stage_not_empty", "{RUNS}", "stage <> ' '")
        """,
    )
    done = dbtools(root, ["upgrade"], env)
    assert done.returncode == 0, done.stderr
    assert f"ck_{RUNS}_stage_not_empty" in checks(database_url)
    assert not [c for c in checks(database_url) if c.startswith(f"ck_{RUNS}_ck_")]


def test_drift_is_clean_right_after_the_revision(tmp_path, database_url):
    """No perpetual drift: the revision written for the model is all there is to write."""
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(database_url))
    add_module(root, RUNS, [CLS], MODEL)
    revision(root, env, f"Create the {RUNS} table", "A new table: nothing existing is locked.")
    again = make(root, "revision", env, m="nothing left")
    assert again.returncode != 0
    assert "already match" in again.stderr
    assert drift_lines(make(root, "check", env).stdout) == []


PARENT, CHILD = free_table("parents"), free_table("children")
UNBUILDABLE = {
    "foreign-key-to-a-non-unique-column": (
        CHILD,
        f'''"""Two tables; the child refers to a column that is not unique."""

from sqlalchemy import BigInteger, ForeignKey, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class Parent(Base):
    __tablename__ = "{PARENT}"
    __table_args__ = {{"comment": "Parents."}}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
    code: Mapped[str] = mapped_column(String, comment="Not unique.")


class Child(Base):
    __tablename__ = "{CHILD}"
    __table_args__ = {{"comment": "Children."}}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
    parent_code: Mapped[str] = mapped_column(
        String, ForeignKey("{PARENT}.code"), comment="Refers to a non-unique column."
    )
''',
    ),
    "index-with-no-columns": (
        PARENT,
        f'''"""A table with an index that names no columns."""

from sqlalchemy import BigInteger, Identity, Index
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class Parent(Base):
    __tablename__ = "{PARENT}"
    __table_args__ = (Index("ix_{PARENT}_nothing"), {{"comment": "Parents."}})

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
''',
    ),
}


@pytest.mark.parametrize("case", sorted(UNBUILDABLE))
def test_a_model_postgresql_cannot_build_is_refused_before_any_file(tmp_path, database_url, case):
    table, source = UNBUILDABLE[case]
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(database_url))
    classes = ["Child", "Parent"] if "Child" in source else ["Parent"]
    add_module(root, PARENT, classes, source)
    assert make(root, "format", env).returncode == 0
    before = sorted((root / "migrations").rglob("*"))
    done = make(root, "revision", env, m="Add the tables")
    assert done.returncode != 0
    line = last_error(done)
    assert line.startswith(f"error: model {table}: PostgreSQL cannot build it: "), done.stderr
    assert "Traceback" not in done.stderr
    assert sorted((root / "migrations").rglob("*")) == before  # nothing written
