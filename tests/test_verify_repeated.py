"""A repeated `make verify`: the cached expected catalog, no SQLAlchemy, the same report.

Each case runs `python -m dbtools verify` as new processes in a copy of the repository
(so the cache, `.cache/verify/`, is the copy's own), on a database of its own migrated
with the real chain, and records which modules each run loaded. The first run takes the
full path and fills the cache; a repeated run on an unchanged database answers from it
without importing SQLAlchemy or Alembic. Whatever the repeated path cannot answer exactly
(a drift, a stale or damaged cache) goes to the full path: the verdict and the printed
report are the same either way.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from dbtools.core import catalog
from tests.migrate import migrate_to
from tests.pg import versions
from tests.repo_copy import copy_repo
from tests.runs import SECRET, engine_for
from tests.verifying import execute, head, verify_env

# `python -m dbtools verify`, and the modules it loaded, written to the file argv[1] names.
LOADED = """
import json, runpy, sys
written = sys.argv[1]
sys.argv = ["dbtools", "verify"]
try:
    runpy.run_module("dbtools", run_name="__main__", alter_sys=True)
finally:
    with open(written, "w") as out:
        json.dump(sorted(sys.modules), out)
"""

HEAVY = ("sqlalchemy", "alembic")
EXTRA = "public.verify_repeated_extra"


def verify_run(
    root: Path, url: URL, server_url: URL, **extra: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """One verify as a new process in `root`: its result, and every module it loaded."""
    modules = root / f"modules-{len(list(root.glob('modules-*')))}.json"
    done = subprocess.run(
        [sys.executable, "-c", LOADED, str(modules)],
        cwd=root,
        env=verify_env(url, server_url, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, json.loads(modules.read_text())


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY]


def cache_files(root: Path) -> list[Path]:
    return sorted((root / ".cache" / "verify").glob("*.json"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repo(tmp_path)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_repeated_verify_loads_neither_sqlalchemy_nor_alembic(
    fmt, repo, database_url, server_url
):
    migrate_to(database_url, "head")
    first, first_modules = verify_run(repo, database_url, server_url, VERIFY_FORMAT=fmt)
    assert first.returncode == 0, first.stderr
    assert heavy(first_modules)  # the first verify of a revision takes the full path

    again, modules = verify_run(repo, database_url, server_url, VERIFY_FORMAT=fmt)

    assert again.returncode == 0, again.stderr
    assert heavy(modules) == [], f"a repeated verify loaded {heavy(modules)[:5]} ..."
    assert (again.stdout, again.stderr) == (first.stdout, first.stderr)
    shown = json.loads(again.stdout)["status"] if fmt == "json" else again.stdout.strip()
    assert shown == ("match" if fmt == "json" else f"matches revision {head()}")
    assert versions(database_url) == [head()]  # read only


def test_a_drift_found_after_caching_gets_the_full_report(repo, database_url, server_url):
    migrate_to(database_url, "head")
    verify_run(repo, database_url, server_url)
    execute(database_url, f"CREATE TABLE {EXTRA} (id int)")

    cached, cached_modules = verify_run(repo, database_url, server_url)
    for path in cache_files(repo):
        path.unlink()
    uncached, _ = verify_run(repo, database_url, server_url)

    assert cached.returncode == uncached.returncode == 1
    assert f"table-extra: {EXTRA}" in cached.stdout
    assert (cached.stdout, cached.stderr) == (uncached.stdout, uncached.stderr)
    assert heavy(cached_modules)  # the fix script is the full path's
    # Restored by its own script, the database matches again, from the cache.
    execute(database_url, f"DROP TABLE {EXTRA}")
    restored, modules = verify_run(repo, database_url, server_url)
    assert restored.returncode == 0 and heavy(modules) == []


def test_a_changed_revision_file_is_never_answered_from_the_cache(repo, database_url, server_url):
    migrate_to(database_url, "head")
    verify_run(repo, database_url, server_url)
    # The head revision, edited in the copy, now also makes a table: the database,
    # migrated before, lacks it. A cache of the old file would say it matches.
    newest = sorted((repo / "migrations" / "versions").glob("*.py"))[-1]
    newest.write_text(
        newest.read_text()
        + "\n\nfrom alembic import op as _op  # noqa: E402\n"
        + "_upgrade_before = upgrade\n\n\n"
        + "def upgrade() -> None:  # noqa: F811\n"
        + "    _upgrade_before()\n"
        + f'    _op.execute("CREATE TABLE {EXTRA} (id int)")\n'
    )

    done, modules = verify_run(repo, database_url, server_url)

    assert done.returncode == 1, done.stderr
    assert f"table-missing: {EXTRA}" in done.stdout
    assert heavy(modules)


def test_a_database_at_another_revision_is_never_answered_from_the_cache(
    repo, database_url, server_url
):
    migrate_to(database_url, "head")
    verify_run(repo, database_url, server_url)
    execute(database_url, "DELETE FROM public.alembic_version")  # now it records base

    done, modules = verify_run(repo, database_url, server_url)

    assert done.returncode == 1, done.stderr
    assert "differs from revision base" in done.stdout
    assert heavy(modules)


def test_a_damaged_cache_file_is_ignored_and_written_anew(repo, database_url, server_url):
    migrate_to(database_url, "head")
    verify_run(repo, database_url, server_url)
    (path,) = cache_files(repo)
    path.write_text(path.read_text()[: len(path.read_text()) // 2])  # cut short

    done, modules = verify_run(repo, database_url, server_url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"matches revision {head()}"
    assert "error" not in done.stderr
    assert heavy(modules)
    again, modules = verify_run(repo, database_url, server_url)
    assert again.returncode == 0 and heavy(modules) == []  # the full path wrote it anew


def test_a_changed_cache_file_never_gives_a_wrong_verdict(repo, database_url, server_url):
    migrate_to(database_url, "head")
    verify_run(repo, database_url, server_url)
    execute(database_url, f"CREATE TABLE {EXTRA} ()")
    # The cached expected catalog changed to hold the hand-made table, as the live
    # database shows it: read as valid, it would say the database matches.
    engine = engine_for(database_url)
    try:
        with engine.connect() as conn:
            live = catalog.describe(conn, ["public"])
    finally:
        engine.dispose()
    (path,) = cache_files(repo)
    document = json.loads(path.read_text())
    for record in document["body"]["revisions"].values():
        record["expected"]["table"][EXTRA] = live["table"][EXTRA]
    path.write_text(json.dumps(document))

    done, modules = verify_run(repo, database_url, server_url)

    assert done.returncode == 1, done.stderr
    assert f"table-extra: {EXTRA}" in done.stdout
    assert heavy(modules)


def test_the_cache_holds_no_password(repo, database_url, server_url):
    migrate_to(database_url, "head")
    verify_run(repo, database_url, server_url)
    files = cache_files(repo)
    assert files
    for path in files:
        text = path.read_text()
        assert SECRET not in text and json.dumps(SECRET)[1:-1] not in text
        assert "s3cr" not in text  # nor any encoded form of it
