"""Checks that apply to every revision run in full for the revisions not released yet, and
once for the chain as a whole: a grown copy with one new revision shows it."""

import subprocess
import sys
from pathlib import Path

from dbtools.core import chain, released
from dbtools.core.paths import REPO_ROOT
from tests.chain import HEAD, free_table
from tests.harness import clean_env
from tests.repo_copy import copy_repo, write_revision

NEW = "c057c057c001"
PER_REVISION = ["tests/test_consent.py", "tests/test_verify.py"]


def copy_with_tests(tmp_path: Path) -> Path:
    root = copy_repo(tmp_path)
    subprocess.run(["cp", "-a", str(REPO_ROOT / "tests"), str(root / "tests")], check=True)
    return root


def pytest_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_per_revision_cases_are_those_of_the_unreleased_revisions(tmp_path):
    root = copy_with_tests(tmp_path)
    write_revision(root, NEW, HEAD, "Nothing yet", "pass")
    collected = pytest_in(root, "--collect-only", "-q", *PER_REVISION)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert any(NEW in line for line in ids)
    for revision in released.read(root / "migrations" / "RELEASED"):
        assert not any(revision in line for line in ids), revision


def test_a_new_revision_that_leaves_a_trace_is_caught(tmp_path):
    root = copy_with_tests(tmp_path)
    table = free_table("left_behind")
    write_revision(
        root,
        NEW,
        HEAD,
        "A table the downgrade forgets",
        f'op.create_table("{table}", sa.Column("id", sa.BigInteger, primary_key=True))',
        "pass",
    )
    done = pytest_in(root, "-q", "tests/test_new_revisions_leave_no_trace.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert table in done.stdout


def test_a_run_reads_the_chain_once_and_again_as_soon_as_a_revision_file_changes(
    tmp_path, monkeypatch
):
    """`make check` asks for the chain about twenty times; each new ScriptDirectory
    executes every revision file again (at 200 revisions, seconds of a run). It is read
    once while the files are unchanged, and again when one is added or edited, even
    to a text of the same length."""
    from alembic.config import Config

    root = copy_repo(tmp_path)
    monkeypatch.setattr(chain, "alembic_config", lambda: Config(str(root / "alembic.ini")))
    first = chain.script_directory()
    assert chain.script_directory() is first

    path = write_revision(root, NEW, HEAD, "First words", "pass")
    added = chain.script_directory()
    assert added is not first
    assert added.get_heads() == [NEW]

    path.write_text(path.read_text().replace("First words", "Other words"))
    edited = chain.script_directory()
    assert edited is not added
    assert edited.get_revision(NEW).doc == "Other words"

    path.unlink()
    assert chain.script_directory().get_heads() == [HEAD]
