"""The installable package: built from a copy of the repository into a fresh virtual
environment, it holds `schema` alone, and its start-up check works there against
databases at base, at an older revision and at head."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from dbtools.core.paths import REPO_ROOT
from schema._revision import HEAD_REVISION, REVISIONS
from tests.migrate import migrate_to
from tests.pg import column, fresh_database, url_string

# One worker runs the module, so the package is built and installed once.
pytestmark = pytest.mark.xdist_group("packaging")

_IGNORED = shutil.ignore_patterns(
    ".venv", ".git", ".pgdata", "__pycache__", "build", "dist", "*.egg-info", ".*_cache"
)

# Run by the fresh environment's interpreter, outside the repository.
_INSPECT = """
import importlib.metadata as md, importlib.util, json, pathlib, schema, schema.testing
dist = md.distribution("schema-models")
top = sorted({pathlib.PurePath(str(f)).parts[0] for f in dist.files})
here = pathlib.Path(schema.__file__).parent
print(json.dumps({
    "version": dist.version,
    "module_version": schema.__version__,
    "requires": sorted(dist.requires or []),
    "top_level": top,
    "file": schema.__file__,
    "package_files": sorted(p.name for p in here.iterdir() if p.is_file()),
    "importable": {m: importlib.util.find_spec(m) is not None
                   for m in ("dbtools", "migrations", "tests", "alembic", "dotenv", "pytest")},
}))
"""

_CHECK = """
import json, sys, schema
out = {}
for label, url in json.loads(sys.argv[1]).items():
    engine = schema.make_engine(url)
    status = schema.check_revision(engine)
    try:
        schema.require_revision(engine)
        refused = None
    except schema.SchemaRevisionError as exc:
        refused = str(exc)
    engine.dispose()
    out[label] = {"state": status.state.name, "database": status.database,
                  "pending": status.pending, "refused": refused}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the package installed from a copy of the repo."""
    root = tmp_path_factory.mktemp("pkg")
    source = root / "source"
    shutil.copytree(REPO_ROOT, source, ignore=_IGNORED)
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    return python


def run_in(python: Path, code: str, *args: str) -> dict:
    result = subprocess.run(
        [str(python), "-c", code, *args],
        cwd=python.parent.parent.parent,  # outside the repository and the source copy
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_package_installs_schema_alone_with_its_runtime_dependencies(venv_python: Path):
    found = run_in(venv_python, _INSPECT)
    assert found["version"] == found["module_version"]
    assert [r.split(">")[0].split("<")[0] for r in found["requires"]] == [
        "psycopg2-binary",
        "sqlalchemy",
    ]
    assert [t for t in found["top_level"] if not t.endswith(".dist-info")] == ["schema"]
    assert "site-packages" in found["file"]
    assert {"py.typed", "schema.sql", "_revision.py", "startup.py"} <= set(found["package_files"])
    # The one committed schema.sql, taken into the wheel by the build backend.
    assert (REPO_ROOT / "schema.sql").read_text() == _read_installed(found)
    assert found["importable"] == {
        "dbtools": False,
        "migrations": False,
        "tests": False,
        "alembic": False,
        "dotenv": False,
        "pytest": False,
    }


def _read_installed(found: dict) -> str:
    return (Path(found["file"]).parent / "schema.sql").read_text()


def test_the_installed_start_up_check_tells_base_older_and_head_apart(
    venv_python: Path, server_url: URL
):
    with (
        fresh_database(server_url) as base,
        fresh_database(server_url) as older,
        fresh_database(server_url) as head,
    ):
        migrate_to(older, REVISIONS[0])
        migrate_to(head, "head")
        urls = {"base": url_string(base), "older": url_string(older), "head": url_string(head)}
        found = run_in(venv_python, _CHECK, json.dumps(urls))

    assert found["base"]["state"] == "UNVERSIONED"
    older = found["older"]
    assert (older["state"], older["database"], older["pending"]) == (
        "BEHIND",
        [REVISIONS[0]],
        list(REVISIONS[1:]),
    )
    # The refusal names where the database is and the head it is behind.
    assert REVISIONS[0] in older["refused"] and HEAD_REVISION in older["refused"]
    assert found["base"]["refused"] and "no Alembic revision" in found["base"]["refused"]
    assert found["head"] == {
        "state": "AT_HEAD",
        "database": [HEAD_REVISION],
        "pending": [],
        "refused": None,
    }


_SERVICE_CONFTEST = 'pytest_plugins = ["schema.pytest_plugin"]\n'
_SERVICE_TESTS = """
from sqlalchemy import func, select, text
import schema

def test_one(schema_engine):
    with schema_engine.begin() as conn:
        # Every table of the installed models is there, empty.
        for table in schema.metadata.sorted_tables:
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
        # A table of the test's own, with a row.
        assert conn.execute(text("SELECT to_regclass('probe') IS NULL")).scalar_one()
        conn.execute(text("CREATE TABLE probe (x int)"))
        conn.execute(text("INSERT INTO probe VALUES (1)"))
    assert schema.check_revision(schema_engine).at_head

test_two = test_one  # would find the first test's table if the database were shared
"""


def test_a_service_suite_gets_databases_from_the_installed_plugin(
    venv_python: Path, server_url: URL, tmp_path: Path
):
    # pytest goes into a directory of its own, so the environment keeps only the package.
    pins = (REPO_ROOT / "requirements-dev.txt").read_text().split()
    pytest_pin = next(p for p in pins if p.startswith("pytest=="))
    tools = tmp_path / "tools"
    subprocess.run(
        [str(venv_python), "-m", "pip", "install", "--quiet", "--target", str(tools), pytest_pin],
        check=True,
        capture_output=True,
    )
    service = tmp_path / "service"
    service.mkdir()
    (service / "conftest.py").write_text(_SERVICE_CONFTEST)
    (service / "test_service.py").write_text(_SERVICE_TESTS)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tools)}

    def run(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(service)],
            cwd=service,
            env={**env, **extra},
            capture_output=True,
            text=True,
        )

    passed = run({"SCHEMA_TEST_SERVER_URL": url_string(server_url)})
    assert "2 passed" in passed.stdout, passed.stdout + passed.stderr
    leftovers = column(server_url, r"SELECT datname FROM pg_database WHERE datname LIKE 'test\_%'")
    assert leftovers == []  # each test's database was dropped after it
    unset = run({})
    assert unset.returncode != 0
    assert "set SCHEMA_TEST_SERVER_URL" in unset.stdout
