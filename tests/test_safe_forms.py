"""Autogenerate writes the forms that do not block a table that exists already.

In a copy of the repository the test's own table (tests/own_table.py: model and revision
after head) gains an index, a foreign key, a unique constraint and a NOT NULL (and a table
of its own, which keeps the plain forms); `make revision` writes the repository's
operations for it, `make check` passes on the result (the linter included), the revision
applies to a database with rows, and pytest-alembic's default tests,
`downgrade_leaves_no_trace` included, pass on it. CHECK constraints are not compared by
Alembic's autogenerate; the rewriter is shown to turn one into the NOT VALID form when a
comparator reports it.
"""

import shutil
import subprocess
import sys

from alembic.autogenerate import render_python_code
from alembic.operations import ops
from sqlalchemy import text

from dbtools.core.chain import script_directory
from dbtools.core.paths import REPO_ROOT
from dbtools.review import safe_forms
from tests import own_models, own_table
from tests.chain import free_table
from tests.harness import clean_env, make
from tests.own_table import TABLE
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools

HEAD = script_directory().get_current_head()

MODEL_CHANGES = {
    # name becomes required and unique with email; a referrer column with a foreign key
    # and an index; a CHECK on age: all on the own table, which exists before the revision.
    '    name: Mapped[str | None] = mapped_column(String, index=True, comment="Display name.")\n': (
        "    name: Mapped[str] = mapped_column("
        'String, index=True, nullable=False, comment="Display name.")\n'
        "    referrer_id: Mapped[int | None] = mapped_column(\n"
        f'        BigInteger, ForeignKey("{TABLE}.id"), index=True, comment="Who invited them."\n'
        "    )\n"
    ),
    '    __table_args__ = {"comment": "People, for a test."}\n': (
        "    __table_args__ = (\n"
        '        UniqueConstraint("name", "email"),\n'
        '        CheckConstraint("age >= 0", name="age_not_negative"),\n'
        '        {"comment": "People, for a test."},\n'
        "    )\n"
    ),
    "from sqlalchemy import BigInteger, Identity, String\n": (
        "from sqlalchemy import (\n    BigInteger,\n    CheckConstraint,\n    ForeignKey,\n"
        "    Identity,\n    String,\n    UniqueConstraint,\n)\n"
    ),
}

BADGES = free_table("badges")
NEW_TABLE = f'''"""A table new in the same revision: its index keeps the plain form."""

from sqlalchemy import BigInteger, ForeignKey, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class Badge(Base):
    __tablename__ = "{BADGES}"
    __table_args__ = {{"comment": "Badges people earned."}}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
    person_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("{TABLE}.id"), index=True, comment="Who earned it."
    )
    title: Mapped[str] = mapped_column(String, comment="What it says.")
'''

DOCSTRING = (
    "Builds its index and unique index concurrently, adds the\n"
    "foreign key NOT VALID and validates it apart, and sets NOT NULL through a validated\n"
    f"CHECK: no step blocks {TABLE} for a scan. The downgrade drops what it added.\n"
)


def change_models(root) -> None:
    """The own table, models and migrations agreeing; then its model changes, and a new
    model module references it."""
    own_table.add(root, HEAD)
    path = root / "schema" / f"{own_table.MODULE}.py"
    source = path.read_text()
    for old, new in MODEL_CHANGES.items():
        assert old in source, old
        source = source.replace(old, new)
    path.write_text(source)
    own_models.add_module(root, f"own_{BADGES}", ["Badge"], NEW_TABLE)
    own_table.sort_imports(root)


def test_make_revision_writes_the_safe_forms_and_check_passes(server_url, engine, tmp_path):
    root = copy_repo(tmp_path)
    change_models(root)
    env = clean_env(DATABASE_URL=url_string(server_url))
    written = {p.name for p in (root / "migrations" / "versions").glob("*.py")}
    made = make(root, "revision", env, m=f"safe forms on {TABLE}")
    assert made.returncode == 0, made.stdout + made.stderr
    [revision] = own_models.new_revisions(root, written)
    source = revision.read_text()
    # Compared without layout: ruff decides where the lines break.
    upgrade = "".join(source.split("def upgrade()")[1].split("def downgrade()")[0].split())
    upgrade = upgrade.replace('"', "'").replace(",)", ")")
    for safe in (
        f"op.create_index_concurrently(op.f('ix_{TABLE}_referrer_id'), '{TABLE}', ['referrer_id'])",
        f"op.add_foreign_key_not_valid(op.f('fk_{TABLE}_referrer_id_{TABLE}'), '{TABLE}', "
        f"'{TABLE}', ['referrer_id'], ['id'])",
        f"op.set_not_null_safely('{TABLE}', 'name')",
        f"op.add_unique_using_index(op.f('uq_{TABLE}_name'), '{TABLE}', ['name', 'email'])",
        f"op.add_check_not_valid(op.f('ck_{TABLE}_age_not_negative'), '{TABLE}', 'age >= 0')",
    ):
        assert "".join(safe.split()) in upgrade, upgrade
    # Plain forms remain only for the new table; the added column may be re-run.
    assert f"op.create_index(op.f('ix_{BADGES}_person_id'),'{BADGES}'" in upgrade
    assert "if_not_exists=True" in upgrade

    own_models.write_docstring(revision, DOCSTRING)
    assert make(root, "generate", env).returncode == 0
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # It applies to the table with rows, and leaves only valid indexes and constraints.
    target = clean_env(DATABASE_URL=url_string(engine.url))
    assert dbtools(root, ["upgrade", own_table.REVISION], target).returncode == 0
    own_table.insert(engine, 2)
    up = dbtools(root, ["upgrade", "head"], target)
    assert up.returncode == 0, up.stderr
    with engine.connect() as conn:
        invalid = conn.execute(text("SELECT count(*) FROM pg_index WHERE NOT indisvalid"))
        assert invalid.scalar() == 0
        not_valid = conn.execute(text("SELECT count(*) FROM pg_constraint WHERE NOT convalidated"))
        assert not_valid.scalar() == 0
        nullable = conn.execute(
            text(
                "SELECT is_nullable FROM information_schema.columns "
                f"WHERE table_name = '{TABLE}' AND column_name = 'name'"
            )
        ).scalar()
        assert nullable == "NO"

    # pytest-alembic's default tests on the chain with the new revision.
    shutil.copytree(REPO_ROOT / "tests", root / "tests")
    tests = [
        "test_upgrade", "test_single_head_revision", "test_up_down_consistency",
        "test_model_definitions_match_ddl", "test_downgrade_leaves_no_trace",
    ]  # fmt: skip
    pytest_run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'inner'}",
            "tests/test_migrations.py",
            "tests/test_new_revisions_leave_no_trace.py",
            "-k",
            " or ".join(tests),
        ],
        cwd=root,
        env=clean_env(TEST_DATABASE_URL=url_string(server_url)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pytest_run.returncode == 0, pytest_run.stdout[-4000:]
    assert "5 passed" in pytest_run.stdout, pytest_run.stdout[-2000:]


def test_a_check_on_an_existing_table_becomes_not_valid_then_validate():
    check = ops.CreateCheckConstraintOp(f"ck_{TABLE}_age_positive", TABLE, "age > 0")
    fresh = ops.CreateCheckConstraintOp(f"ck_{BADGES}_title", BADGES, "title <> ''")
    created = ops.CreateTableOp(BADGES, [])
    script = ops.MigrationScript(
        "x",
        ops.UpgradeOps([created, fresh, check]),
        ops.DowngradeOps([]),
    )
    safe_forms.rewrite(None, None, [script])
    rendered = render_python_code(script.upgrade_ops)
    assert f"op.add_check_not_valid('ck_{TABLE}_age_positive', '{TABLE}', 'age > 0')" in rendered
    assert f"op.create_check_constraint('ck_{BADGES}_title', '{BADGES}'" in rendered.replace(
        '"', "'"
    )
