"""Inputs that cannot surprise: Make variables are data, messages of any characters give a
revision that loads, settings that would mean "no limit" are refused, and broken chains
(cycles, duplicate ids, `sys.exit`) are named with their files.

Each failure is one `error:` line, a non-zero exit, and nothing applied or left behind.
"""

import importlib.util

import pytest

from dbtools.core.paths import REPO_ROOT
from tests.chain import HEAD
from tests.harness import clean_env, last_error, make
from tests.pg import url_string
from tests.repo_copy import copy_repo, write_revision
from tests.runs import cli_env, error_line, run, state

# Make variables shaped like shell (and make) injections: each must be taken literally.
INJECTIONS = [
    "head; touch {marker}",
    "$(touch {marker})head",
    "`touch {marker}`",
    '"; touch {marker}; "',
    "$(shell touch {marker})",
]


@pytest.mark.parametrize("shape", INJECTIONS)
@pytest.mark.parametrize("target", ["upgrade", "sql"])
def test_make_variables_are_data_never_shell(shape, target, tmp_path, database_url, engine):
    marker = tmp_path / "pwned"
    value = shape.format(marker=marker)
    before = state(engine)
    variable = "REV" if target == "upgrade" else "FROM"

    done = make(REPO_ROOT, target, cli_env(database_url), **{variable: value})

    assert not marker.exists(), f"{variable}={value!r} ran a command"
    assert done.returncode != 0
    assert done.stdout.strip() == "" or target == "upgrade"
    said = ("unknown revision", "Can't locate revision")
    assert any(s in done.stderr for s in said), done.stderr
    assert state(engine) == before


MESSAGES = [
    'fix C:\\Users path "quoted" and \\',
    'triple """ quotes \'\'\' and a trailing "',
    "two\nlines, non-ASCII: ünïcode ✓ and $(touch {marker}) `touch {marker}`",
]


@pytest.mark.parametrize("message", MESSAGES, ids=["backslashes", "quotes", "newline-unicode"])
def test_a_message_of_any_characters_gives_a_revision_that_loads(message, tmp_path, server_url):
    root = copy_repo(tmp_path)
    marker = tmp_path / "pwned"
    message = message.format(marker=marker)
    versions = root / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    env = clean_env(DATABASE_URL=url_string(server_url))

    done = make(root, "revision", env, m=message, EMPTY="1")

    assert done.returncode == 0, done.stdout + done.stderr
    assert not marker.exists()
    [path] = sorted(set(versions.glob("*.py")) - before)
    spec = importlib.util.spec_from_file_location("new_revision", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # it loads
    assert module.__doc__.splitlines()[0] == " ".join(message.split())
    assert module.down_revision == HEAD


def test_a_revision_that_does_not_load_is_removed_saying_so(tmp_path, server_url, monkeypatch):
    """A template that renders a broken file: the file is removed and the line says so."""
    root = copy_repo(tmp_path)
    mako = root / "migrations" / "script.py.mako"
    mako.write_text(mako.read_text().replace("def upgrade() -> None:", "def upgrade( -> None:"))
    versions = root / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    env = clean_env(DATABASE_URL=url_string(server_url))

    done = make(root, "revision", env, m="broken on purpose", EMPTY="1")

    assert done.returncode != 0
    line = last_error(done)
    assert line.startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    assert "SyntaxError" in line, line
    assert "was removed: nothing was written" in line, line
    assert set(versions.glob("*.py")) == before


SETTINGS = [
    ("MIGRATION_LOCK_TIMEOUT", "0s", "must be at least 1ms"),
    ("MIGRATION_LOCK_TIMEOUT", "0.5ms", "must be at least 1ms"),
    ("MIGRATION_STATEMENT_TIMEOUT", "0.0001s", "must be at least 1ms"),
    ("MIGRATION_CONCURRENT_STATEMENT_TIMEOUT", "0min", "must be at least 1ms"),
    ("MIGRATION_LOCK_TIMEOUT", "\u0665s", "must be a duration"),
    ("MIGRATION_LOCK_RETRIES", "\u0661", "must be a whole number"),
    ("MIGRATION_LOCK_RETRIES", "\u00b2", "must be a whole number"),
]


@pytest.mark.parametrize(("name", "value", "said"), SETTINGS)
def test_settings_that_would_mean_no_limit_are_refused(name, value, said, database_url, engine):
    before = state(engine)
    done = run(REPO_ROOT, ["upgrade", "head"], cli_env(database_url, **{name: value}))
    assert done.returncode == 1
    line = error_line(done.stderr)
    assert f"{name} {said}" in line and repr(value) in line, line
    assert state(engine) == before


def test_a_revision_cycle_is_named_with_its_files(tmp_path, database_url, engine):
    root = copy_repo(tmp_path)
    a = write_revision(root, "c1c1c1c1c1c1", "c2c2c2c2c2c2", "One.", "pass")
    b = write_revision(root, "c2c2c2c2c2c2", "c1c1c1c1c1c1", "Two.", "pass")
    before = state(engine)
    done = run(root, ["upgrade", "head"], cli_env(database_url))
    assert done.returncode == 1
    line = error_line(done.stderr)
    assert "the revisions form a cycle" in line, line
    assert a.name in line and b.name in line, line
    assert state(engine) == before


def test_a_revision_naming_itself_as_parent_is_a_cycle(tmp_path, database_url, engine):
    root = copy_repo(tmp_path)
    path = write_revision(root, "c3c3c3c3c3c3", "c3c3c3c3c3c3", "Self.", "pass")
    done = run(root, ["upgrade", "head"], cli_env(database_url))
    assert done.returncode == 1
    line = error_line(done.stderr)
    assert "the revisions form a cycle" in line and path.name in line, line


def test_a_duplicate_revision_id_is_named_with_both_files(tmp_path, database_url, engine):
    root = copy_repo(tmp_path)
    first = write_revision(root, "d1d1d1d1d1d1", HEAD, "First.", "pass")
    second = first.with_name(first.name.replace("extra", "again"))
    second.write_text(first.read_text())
    before = state(engine)
    done = run(root, ["upgrade", "head"], cli_env(database_url))
    assert done.returncode == 1
    line = error_line(done.stderr)
    assert "both define revision d1d1d1d1d1d1" in line, line
    assert first.name in line and second.name in line, line
    assert state(engine) == before


def test_sys_exit_in_a_revision_is_an_error_line(tmp_path, database_url, engine):
    root = copy_repo(tmp_path)
    path = write_revision(root, "e1e1e1e1e1e1", HEAD, "Exits.", "pass")
    path.write_text("import sys\n\nsys.exit(0)\n" + path.read_text())
    before = state(engine)
    done = run(root, ["upgrade", "head"], cli_env(database_url))
    assert done.returncode == 1
    line = error_line(done.stderr)
    assert f"{path.name} calls sys.exit(0) when it is imported" in line, line
    assert state(engine) == before
