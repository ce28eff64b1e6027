"""Released revisions are immutable: `make check` names one that changed, `make release`
marks the chain, and the migration log accepts every file the marker lists for a revision.

What is released is `migrations/RELEASED` (a committed marker, read on a fresh clone and in
CI without the base branch). Everything happens in a copy of the repository.
"""

import hashlib
from pathlib import Path

from sqlalchemy import inspect

from dbtools.core import released
from dbtools.review.released import problems
from tests.chain import HEAD, REVISIONS, free_table, revision_file, upgrades
from tests.harness import clean_env, make
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools, write_revision
from tests.runs import cli_env, error_line, log_rows, run, versions

NEW = "5eed0000aa01"
AFTER = "5eed0000aa02"


def released_problems(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("  - released: ")]


def test_the_repository_releases_its_chain_unedited():
    # Every shipped revision is released, as one of the files the marker accepts for it.
    assert set(released.read()) <= set(REVISIONS)
    assert problems() == []


def released_copy(tmp_path: Path, env: dict[str, str]) -> Path:
    """A copy whose whole chain is released (`make release`, whatever the repository's
    own chain has released so far)."""
    root = copy_repo(tmp_path)
    done = make(root, "release", env)
    assert done.returncode == 0, done.stderr
    assert HEAD in released.read(root / "migrations" / "RELEASED")
    return root


def test_check_names_an_edited_released_revision(tmp_path, server_url):
    env = clean_env(DATABASE_URL=url_string(server_url))
    root = released_copy(tmp_path, env)
    edited = revision_file(root, HEAD)
    edited.write_text(edited.read_text() + "# a comment added after the release\n")
    done = make(root, "check", env)
    assert done.returncode != 0
    shown = edited.relative_to(root)
    assert released_problems(done.stdout) == [
        f"  - released: {shown}: released revision {HEAD} was edited (its checksum is none of "
        "those migrations/RELEASED lists for it); restore it and fix forward in a new "
        "revision (docs/reviewing.md#released-revisions)"
    ]


def test_release_marks_new_revisions_and_then_protects_them(tmp_path, server_url):
    env = clean_env(DATABASE_URL=url_string(server_url))
    root = released_copy(tmp_path, env)
    table = free_table("release_notes")
    new = write_revision(
        root,
        NEW,
        HEAD,
        "Add a table for release notes",
        f'op.create_table("{table}", sa.Column("id", sa.BigInteger, primary_key=True))',
        f'op.drop_table("{table}")',
    )
    # Not released yet: editing it is what a pull request does.
    new.write_text(new.read_text() + "# still being written\n")
    done = make(root, "release", env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"released {NEW}"
    marker = root / "migrations" / "RELEASED"
    digest = hashlib.sha256(new.read_bytes()).hexdigest()
    assert f"{NEW} {digest} {new.name}" in marker.read_text().splitlines()
    # Released now, in the same line of history: the same edit is refused.
    again = make(root, "release", env)
    assert again.stdout.splitlines()[0].endswith("lists every revision; commit it")
    new.write_text(new.read_text() + "# edited after the release\n")
    checked = make(root, "check", env)
    assert checked.returncode != 0
    assert [
        line.split(": released revision ")[1].split()[0]
        for line in released_problems(checked.stdout)
    ] == [NEW]


def test_a_database_that_ran_an_accepted_earlier_file_migrates_on(tmp_path, database_url, engine):
    root = copy_repo(tmp_path)
    table = free_table("release_notes")
    new = write_revision(
        root,
        NEW,
        HEAD,
        "Add a table for release notes",
        f'op.create_table("{table}", sa.Column("id", sa.BigInteger, primary_key=True))',
        f'op.drop_table("{table}")',
    )
    env = cli_env(database_url)
    assert dbtools(root, ["release"], env).returncode == 0
    assert run(root, ["upgrade", "head"], env).returncode == 0
    ran = log_rows(engine)

    # Edited after its release and after this database ran it.
    new.write_text(new.read_text() + "# a comment added after the release\n")
    write_revision(root, AFTER, NEW, "Nothing more", "pass")
    refused = run(root, ["upgrade", "head"], env)
    assert refused.returncode != 0
    assert f"revision {NEW} (" in error_line(refused.stderr)
    assert versions(engine) == [NEW]

    # The edit recorded in the marker, as this repository records its own: both files
    # are accepted, so the database migrates on with no MIGRATION_ALLOW_EDITED.
    released.append([released.line(NEW, new)], root / "migrations" / "RELEASED")
    done = run(root, ["upgrade", "head"], env)
    assert done.returncode == 0, done.stderr
    assert versions(engine) == [AFTER]
    assert log_rows(engine) == [*ran, *upgrades([AFTER])]
    assert table in inspect(engine).get_table_names()


def test_a_malformed_marker_is_one_line(tmp_path):
    root = copy_repo(tmp_path)
    marker = root / "migrations" / "RELEASED"
    before = marker.read_text()
    marker.write_text(before + "not a release line\n")
    done = dbtools(root, ["release"], clean_env())
    assert done.returncode == 1
    number = len(before.splitlines()) + 1
    assert error_line(done.stderr, None) == (
        f"error: RELEASED:{number}: expected `<revision> <sha256> <file name>`, "
        "found 'not a release line'"
    )
    assert marker.read_text() == before + "not a release line\n"
