"""`make check`, `make revision` and the head file, on real PostgreSQL.

The check's drift comparison needs a server to build a scratch database on: each test
passes the test server through DATABASE_URL, as a pipeline would.
"""

import subprocess
import sys

from sqlalchemy import inspect

import schema
from dbtools.core.chain import script_directory
from dbtools.core.paths import REPO_ROOT
from tests import own_models, own_table
from tests.harness import clean_env, last_error, make
from tests.own_table import TABLE
from tests.pg import url_string, versions
from tests.repo_copy import copy_repo, dbtools, write_revision

HEAD = script_directory().get_current_head()

# The README's example, on the test's own table (its model and revision, after head).
PHONE = "phone"
PHONE_LINE = (
    f'    {PHONE}: Mapped[str | None] = mapped_column(String, comment="Phone, if given.")\n'
)
INDEX = f"ix_{TABLE}_email_name"


def add_phone_to_model(root) -> None:
    """The test's own table in the copy, models and migrations agreeing; then its model
    gains a column no revision creates."""
    own_table.add(root, HEAD)
    own_table.sort_imports(root)
    path = root / "schema" / f"{own_table.MODULE}.py"
    source = path.read_text()
    assert f"{PHONE}:" not in source
    path.write_text(source + PHONE_LINE)


def in_the_guide(line: str, guide: str) -> bool:
    """The guide shows the run on the example's table, where this one has the test's."""
    return own_table.in_document(line, guide, [TABLE, INDEX])


def new_revision_files(root) -> list:
    before = {p.name for p in (REPO_ROOT / "migrations" / "versions").glob("*.py")}
    return [p for p in (root / "migrations" / "versions").glob("*.py") if p.name not in before]


def test_check_passes_on_the_repository(server_url):
    done = make(REPO_ROOT, "check", clean_env(DATABASE_URL=url_string(server_url)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"check passed: one head ({HEAD})")
    guide = " ".join((REPO_ROOT / "docs" / "reviewing.md").read_text().split())
    assert done.stdout.strip().replace(HEAD, "<rev>") in guide


def test_check_lists_every_problem_at_once(server_url, tmp_path):
    root = copy_repo(tmp_path)
    add_phone_to_model(root)  # drift
    # Two revisions on the same parent: two heads; one builds an index the unsafe way.
    write_revision(
        root,
        "aaaa00000001",
        own_table.REVISION,
        f"Index {TABLE} by email and name",
        f'op.create_index("{INDEX}", "{TABLE}", ["email", "name"])',
        f'op.drop_index("{INDEX}", table_name="{TABLE}")',
    )
    server = clean_env(DATABASE_URL=url_string(server_url))
    assert make(root, "generate", server).returncode == 0
    stale = next((root / "migrations" / "sql").glob("*-aaaa00000001_*.upgrade.sql"))
    stale.write_text(stale.read_text() + "-- edited by hand\n")
    # The second head arrives after the last `make generate`, as from a merged branch.
    write_revision(root, "bbbb00000002", own_table.REVISION, "Nothing yet", "pass")

    done = make(root, "check", clean_env(DATABASE_URL=url_string(server_url)))

    assert done.returncode != 0
    assert last_error(done).startswith("error: check failed with ")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("make check found ")
    problems = lines[1:]
    assert all(line.startswith("  - ") for line in problems)
    text_ = "\n".join(problems)
    assert "heads: the revisions have 2 heads (aaaa00000001, bbbb00000002)" in text_
    assert f"stale: {stale.relative_to(root)} is stale: run `make generate`" in text_
    assert f"drift: column {TABLE}.{PHONE}: in the models but no revision creates it" in text_
    assert f"drift: index {INDEX} on {TABLE}: in the migrations but not in the models" in text_
    assert any(
        "lint: migrations/sql/" in line and " require-concurrent-index-creation " in line
        for line in problems
    )
    # The reviewer's guide shows this very run, line for line.
    guide = (REPO_ROOT / "docs" / "reviewing.md").read_text()
    for line in [*lines, last_error(done)]:
        assert in_the_guide(line, guide), "\n".join([*lines, last_error(done)])


def test_model_change_fails_check_then_make_revision_fixes_it(server_url, database_url, tmp_path):
    root = copy_repo(tmp_path)
    server = clean_env(DATABASE_URL=url_string(server_url))
    add_phone_to_model(root)

    before = make(root, "check", server)
    assert before.returncode != 0
    assert f"column {TABLE}.{PHONE}: in the models but no revision creates it" in before.stdout

    message = f"add phone to {TABLE}"
    written = {p.name for p in (root / "migrations" / "versions").glob("*.py")}
    made = make(root, "revision", server, m=message)
    assert made.returncode == 0, made.stderr
    [revision_file] = own_models.new_revisions(root, written)
    # Formatted by the post-write hook: ruff finds nothing to change.
    ruff = [str(REPO_ROOT / ".venv" / "bin" / "ruff"), "format", "--check", str(revision_file)]
    assert subprocess.run(ruff, capture_output=True, check=False).returncode == 0
    source = revision_file.read_text()
    assert source.startswith(f'"""{message}')
    assert f'sa.Column("{PHONE}", sa.String(), nullable=True' in source

    # The revision's SQL and the head file were generated with it.
    new_head = revision_file.stem.split("-", 1)[1].split("_", 1)[0]
    assert (root / "migrations" / "HEAD").read_text() == f"{new_head}\n"
    upgrade_sql = (root / "migrations" / "sql" / f"{revision_file.stem}.upgrade.sql").read_text()
    assert f"-> {new_head}, {message}" in upgrade_sql
    assert f"ALTER TABLE {TABLE} ADD COLUMN {PHONE} VARCHAR;" in upgrade_sql

    # What `make revision` wrote passes `make check` once its docstring is written.
    unwritten = make(root, "check", server)
    assert unwritten.returncode != 0
    assert (
        f"  - docstring: {revision_file.relative_to(root)}: the docstring still holds the "
        "template's placeholder (<Say what changes and why...>): replace it with what the "
        "revision changes and why"
    ) in unwritten.stdout.splitlines()
    own_models.write_docstring(revision_file, "A nullable column: catalog only, safe online.")
    after = make(root, "check", server)
    assert after.returncode == 0, after.stdout + after.stderr

    # The downgrade works: up to the new head, then one step back.
    target = clean_env(DATABASE_URL=url_string(database_url))
    assert dbtools(root, ["upgrade"], target).returncode == 0
    assert PHONE in columns(database_url)
    assert dbtools(root, ["downgrade"], target).returncode == 0
    assert PHONE not in columns(database_url)
    assert versions(database_url) == [own_table.REVISION]


def test_a_revision_autogenerate_would_leave_empty_is_refused(server_url, tmp_path):
    root = copy_repo(tmp_path)
    done = make(root, "revision", clean_env(DATABASE_URL=url_string(server_url)), m="nothing")
    assert done.returncode != 0
    assert last_error(done) == (
        "error: the models and the migrations already match: no revision written"
    )
    assert new_revision_files(root) == []
    assert last_error(done) in (REPO_ROOT / "docs" / "reviewing.md").read_text()
    assert (root / "migrations" / "HEAD").read_text() == f"{HEAD}\n"


def test_two_branches_adding_a_revision_conflict_in_git(tmp_path, server_url):
    root = copy_repo(tmp_path)
    env = clean_env(
        DATABASE_URL=url_string(server_url),
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.org",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.org",
    )

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=False
        )

    def add_revision(message: str) -> None:
        alembic = [sys.executable, "-m", "alembic", "revision", "-m", message]
        assert subprocess.run(alembic, cwd=root, env=env, capture_output=True).returncode == 0
        assert dbtools(root, ["generate"], env).returncode == 0
        assert git("add", "-A").returncode == 0
        assert git("commit", "-qm", message).returncode == 0

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "first")
    add_revision("first change")
    git("checkout", "-q", "main")
    git("checkout", "-qb", "second")
    add_revision("second change")

    merged = git("merge", "first")
    assert merged.returncode != 0
    assert "CONFLICT (content): Merge conflict in migrations/HEAD" in merged.stdout

    # The markers in generated files give one line of advice, not ruff's page of
    # invalid-syntax findings.
    conflicted = [
        line.removeprefix("CONFLICT (content): Merge conflict in ")
        for line in merged.stdout.splitlines()
        if line.startswith("CONFLICT (content)")
    ]
    linted = make(root, "lint", env)
    assert linted.returncode != 0
    [advice] = linted.stdout.splitlines()
    assert advice.startswith("merge-conflict markers in generated files: ")
    assert all(path in advice for path in conflicted), (conflicted, advice)
    assert advice.endswith("then run `make generate`")
    assert "invalid-syntax" not in linted.stdout
    checked = make(root, "check", env)
    assert f"  - conflict: {advice}" in checked.stdout.splitlines()
    assert "invalid-syntax" not in checked.stdout


def columns(url) -> list[str]:
    engine = schema.make_engine(url)
    try:
        return [c["name"] for c in inspect(engine).get_columns(TABLE)]
    finally:
        engine.dispose()


def test_sql_of_a_revision_that_is_gone_is_reported_then_removed(server_url, tmp_path):
    root = copy_repo(tmp_path)
    stray = root / "migrations" / "sql" / "2020_01_01_000000-0ld0ld0ld0ld_gone.upgrade.sql"
    stray.write_text("-- the SQL of a revision since deleted\n")

    checked = make(root, "check", clean_env(DATABASE_URL=url_string(server_url)))
    assert checked.returncode != 0
    assert (
        "  - stale: migrations/sql/2020_01_01_000000-0ld0ld0ld0ld_gone.upgrade.sql belongs to no "
        "revision: run `make generate` (it deletes it)"
    ) in checked.stdout.splitlines()

    generated = make(root, "generate", clean_env(DATABASE_URL=url_string(server_url)))
    assert generated.returncode == 0, generated.stderr
    changed = [line for line in generated.stdout.splitlines() if "FINGERPRINTS" not in line]
    assert changed == [
        "removed migrations/sql/2020_01_01_000000-0ld0ld0ld0ld_gone.upgrade.sql "
        "(its revision no longer exists)"
    ]
    assert not stray.exists()
