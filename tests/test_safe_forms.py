"""Autogenerate writes the forms that do not block a table that exists already.

In a copy of the repository the users model gains an index, a foreign key, a unique
constraint and a NOT NULL (and a table of its own, which keeps the plain forms);
`make revision` writes the repository's operations for users, `make check` passes on the
result (the linter included), the revision applies to a database with rows, and
pytest-alembic's default tests, `downgrade_leaves_no_trace` included, pass on it. CHECK
constraints are not compared by Alembic's autogenerate; the rewriter is shown to turn
one into the NOT VALID form when a comparator reports it.
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
from tests import own_models
from tests.pg import url_string
from tests.repo_copy import clean_env, copy_repo, dbtools, make

HEAD = script_directory().get_current_head()

MODEL_CHANGES = {
    # name becomes required and unique with email; a referrer column with a foreign key
    # and an index; a CHECK on age: all on users, which exists before the revision.
    "    name: Mapped[str | None] = mapped_column(\n"
    '        String, index=True, comment="Display name; not unique."\n'
    "    )\n": "    name: Mapped[str] = mapped_column(\n"
    '        String, index=True, nullable=False, comment="Display name; not unique."\n'
    "    )\n"
    "    referrer_id: Mapped[int | None] = mapped_column(\n"
    '        BigInteger, ForeignKey("users.id"), index=True, comment="Who invited them."\n'
    "    )\n",
    '    __table_args__ = {"comment": "People who sign in to the services."}\n': (
        "    __table_args__ = (\n"
        '        UniqueConstraint("name", "email"),\n'
        '        CheckConstraint("age >= 0", name="age_not_negative"),\n'
        '        {"comment": "People who sign in to the services."},\n'
        "    )\n"
    ),
    "from sqlalchemy import BigInteger, Identity, Integer, String\n": (
        "from sqlalchemy import (\n    BigInteger,\n    CheckConstraint,\n    ForeignKey,\n"
        "    Identity,\n    Integer,\n    String,\n    UniqueConstraint,\n)\n"
    ),
}

NEW_TABLE = '''"""A table new in the same revision: its index keeps the plain form."""

from sqlalchemy import BigInteger, ForeignKey, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class Badge(Base):
    __tablename__ = "badges"
    __table_args__ = {"comment": "Badges people earned."}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id"), index=True, comment="Who earned it."
    )
    title: Mapped[str] = mapped_column(String, comment="What it says.")
'''

DOCSTRING = (
    "Builds its index and unique index concurrently, adds the\n"
    "foreign key NOT VALID and validates it apart, and sets NOT NULL through a validated\n"
    "CHECK: no step blocks users for a scan. The downgrade drops what it added.\n"
)


def change_models(root) -> None:
    path = root / "schema" / "user.py"
    source = path.read_text()
    for old, new in MODEL_CHANGES.items():
        assert old in source, old
        source = source.replace(old, new)
    path.write_text(source)
    (root / "schema" / "badge.py").write_text(NEW_TABLE)
    models = root / "schema" / "models.py"
    source = models.read_text().replace(
        "from schema.user import User",
        "from schema.badge import Badge  # noqa: F401\nfrom schema.user import User",
    )
    models.write_text(source)
    ruff = REPO_ROOT / ".venv" / "bin" / "ruff"
    subprocess.run([str(ruff), "check", "--fix", "-q", "--select", "I", str(models)], check=True)


def test_make_revision_writes_the_safe_forms_and_check_passes(server_url, engine, tmp_path):
    root = copy_repo(tmp_path)
    change_models(root)
    env = clean_env(DATABASE_URL=url_string(server_url))
    made = make(root, "revision", env, m="safe forms on users")
    assert made.returncode == 0, made.stdout + made.stderr
    [revision] = [
        p
        for p in (root / "migrations" / "versions").glob("*.py")
        if not (REPO_ROOT / "migrations" / "versions" / p.name).exists()
    ]
    source = revision.read_text()
    # Compared without layout: ruff decides where the lines break.
    upgrade = "".join(source.split("def upgrade()")[1].split("def downgrade()")[0].split())
    upgrade = upgrade.replace('"', "'").replace(",)", ")")
    for safe in (
        "op.create_index_concurrently(op.f('ix_users_referrer_id'), 'users', ['referrer_id'])",
        "op.add_foreign_key_not_valid(op.f('fk_users_referrer_id_users'), 'users', 'users', "
        "['referrer_id'], ['id'])",
        "op.set_not_null_safely('users', 'name')",
        "op.add_unique_using_index(op.f('uq_users_name'), 'users', ['name', 'email'])",
        "op.add_check_not_valid(op.f('ck_users_age_not_negative'), 'users', 'age >= 0')",
    ):
        assert "".join(safe.split()) in upgrade, upgrade
    # Plain forms remain only for the new table; the added column may be re-run.
    assert "op.create_index(op.f('ix_badges_user_id'),'badges'" in upgrade
    assert "if_not_exists=True" in upgrade

    own_models.write_docstring(revision, DOCSTRING)
    assert make(root, "generate", env).returncode == 0
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # It applies to a users table with rows, and leaves only valid indexes and constraints.
    target = clean_env(DATABASE_URL=url_string(engine.url))
    assert dbtools(root, ["upgrade", HEAD], target).returncode == 0
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (name, email) VALUES ('Ada', 'a@x'), ('Bo', 'b@x')"))
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
                "WHERE table_name = 'users' AND column_name = 'name'"
            )
        ).scalar()
        assert nullable == "NO"

    # pytest-alembic's default tests on the chain with the new revision.
    shutil.copytree(
        REPO_ROOT / "tests", root / "tests", ignore=shutil.ignore_patterns("__pycache__")
    )
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
    check = ops.CreateCheckConstraintOp("ck_users_age_positive", "users", "age > 0")
    fresh = ops.CreateCheckConstraintOp("ck_badges_title", "badges", "title <> ''")
    created = ops.CreateTableOp("badges", [])
    script = ops.MigrationScript(
        "x",
        ops.UpgradeOps([created, fresh, check]),
        ops.DowngradeOps([]),
    )
    safe_forms.rewrite(None, None, [script])
    rendered = render_python_code(script.upgrade_ops)
    assert "op.add_check_not_valid('ck_users_age_positive', 'users', 'age > 0')" in rendered
    assert "op.create_check_constraint('ck_badges_title', 'badges'" in rendered.replace('"', "'")
