"""Alembic's own command line keeps working beside `make`: `alembic check` in particular.

The empty-revision guard of `make revision` must not fire for `alembic check`, which runs
the same autogenerate hook: on a tree whose models match it exits 0, and on drift it
exits non-zero naming the difference.
"""

import subprocess
from pathlib import Path

from dbtools.core.paths import REPO_ROOT
from tests.chain import FIRST, HEAD
from tests.pg import versions
from tests.repo_copy import copy_repo
from tests.runs import cli_env, run

PROBE_MODEL = '''"""A table only this test's copy of the models has."""

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class AlembicCheckProbe(Base):
    __tablename__ = "alembic_check_probe"
    __table_args__ = {"comment": "Drift made on purpose."}

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, comment="Key.")
'''


def alembic(root: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / ".venv" / "bin" / "alembic"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_alembic_check_passes_on_a_clean_tree_and_names_drift(tmp_path, database_url):
    repo = copy_repo(tmp_path)
    env = cli_env(database_url)
    assert run(repo, ["upgrade", "head"], env).returncode == 0

    clean = alembic(repo, ["check"], env)
    assert clean.returncode == 0, clean.stderr
    assert "No new upgrade operations detected" in clean.stdout + clean.stderr

    (repo / "schema" / "alembic_check_probe.py").write_text(PROBE_MODEL)
    with (repo / "schema" / "models.py").open("a") as models:
        models.write("from schema.alembic_check_probe import AlembicCheckProbe  # noqa: F401\n")
    drifted = alembic(repo, ["check"], env)
    assert drifted.returncode != 0
    assert "add_table" in drifted.stderr and "alembic_check_probe" in drifted.stderr


def test_alembic_upgrade_and_offline_sql_work_with_nothing_handed_in(tmp_path, database_url):
    env = cli_env(database_url)
    done = alembic(REPO_ROOT, ["upgrade", "head"], env)
    assert done.returncode == 0, done.stderr
    assert versions(database_url) == [HEAD]
    # Alembic's own --sql gets the same review shaping as `make sql`: timeouts per block.
    offline = alembic(REPO_ROOT, ["upgrade", f"{FIRST}:head", "--sql"], env)
    assert offline.returncode == 0, offline.stderr
    assert "SET lock_timeout" in offline.stdout and f"'{HEAD}'" in offline.stdout


def test_alembic_revision_autogenerate_writes_the_models_difference(tmp_path, database_url):
    repo = copy_repo(tmp_path)
    env = cli_env(database_url)
    assert alembic(repo, ["upgrade", "head"], env).returncode == 0
    (repo / "schema" / "alembic_check_probe.py").write_text(PROBE_MODEL)
    with (repo / "schema" / "models.py").open("a") as models:
        models.write("from schema.alembic_check_probe import AlembicCheckProbe  # noqa: F401\n")
    done = alembic(repo, ["revision", "--autogenerate", "-m", "add the probe"], env)
    assert done.returncode == 0, done.stderr
    (written,) = (repo / "migrations" / "versions").glob("*add_the_probe.py")
    assert (
        "op.create_table(" in written.read_text() and "alembic_check_probe" in written.read_text()
    )
