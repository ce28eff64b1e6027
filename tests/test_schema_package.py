"""The `schema` package: importing it registers every model and touches no database."""

import subprocess
import sys
from pathlib import Path

from dbtools.core.paths import REPO_ROOT

# Imports every module of the package by name, as a stand-in for "all the models there are".
_ALL_MODULES = """
import pkgutil, importlib, schema
for m in pkgutil.walk_packages(schema.__path__, 'schema.'):
    importlib.import_module(m.name)
print(sorted(schema.metadata.tables))
"""


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_importing_schema_registers_every_model():
    # pytest-alembic's experimental check for this routes the URL through ConfigParser,
    # which breaks on percent-encoded URLs; this is the same check without a database.
    registered = _python("import schema; print(sorted(schema.metadata.tables))")
    assert registered == _python(_ALL_MODULES)
    assert "users" in registered


def test_importing_schema_opens_no_connection_and_reads_no_env_file():
    code = (
        "import sys, schema, sqlalchemy.pool as p; "
        "print('dotenv' in sys.modules, 'psycopg2' in sys.modules)"
    )
    assert _python(code) == "False False"


def test_the_models_load_on_first_use_and_the_helpers_need_no_orm():
    # The engine helpers and the start-up check serve a no-op migration run and a
    # service's health check: they must not pay for sqlalchemy.orm and the models.
    code = (
        "import sys, schema; before = 'sqlalchemy.orm' in sys.modules; "
        "tables = sorted(schema.metadata.tables); "
        "print(before, 'sqlalchemy.orm' in sys.modules, 'schema.models' in sys.modules)"
    )
    assert _python(code) == "False True True"
    # Any model-shaped name loads them all: a model class registers every table too.
    code = "from schema import User; print(sorted(User.metadata.tables))"
    assert _python(code) == _python(_ALL_MODULES)


def test_every_constraint_and_index_gets_a_conventional_name():
    import schema

    users = schema.metadata.tables["users"]
    names = {c.name for c in users.constraints} | {i.name for i in users.indexes}
    assert names == {"pk_users", "uq_users_email", "ix_users_name"}


def test_a_consumer_sees_the_models_typed(tmp_path):
    """`from schema import <Model>, metadata` is typed for mypy: a model's column is an
    `InstrumentedAttribute[...]`, not `Any` (the models load lazily at run time)."""
    import schema.models

    model = next(n for n in schema.models.__all__ if n not in ("Base", "metadata"))
    column = next(iter(getattr(schema, model).__mapper__.column_attrs)).key
    snippet = tmp_path / "consumer.py"
    snippet.write_text(
        f"from schema import {model}, metadata\n\nreveal_type({model}.{column})\n"
        "reveal_type(metadata)\n"
    )
    mypy = Path(sys.executable).parent / "mypy"
    done = subprocess.run(
        [str(mypy), "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(snippet)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'Revealed type is "sqlalchemy.orm.attributes.InstrumentedAttribute[' in done.stdout
    assert 'Revealed type is "sqlalchemy.sql.schema.MetaData"' in done.stdout
