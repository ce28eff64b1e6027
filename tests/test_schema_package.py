"""The `schema` package: importing it registers every model and touches no database."""

import ast
import subprocess
import sys
from pathlib import Path

from dbtools.core.paths import REPO_ROOT
from tests import own_table

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
    # Every model class the package's modules declare is among them (keys of tables in
    # other schemas are qualified, `audit.events`).
    names = {key.rsplit(".", 1)[-1] for key in ast.literal_eval(registered)}
    assert declared_tables() <= names


def declared_tables() -> set[str]:
    """The `__tablename__` of every class in the package's modules, read from the source."""
    found = set()
    for path in (REPO_ROOT / "schema").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            named = isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            if named and getattr(node.targets[0], "id", "") == "__tablename__":
                found.add(node.value.value)
    return found


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
    model = first_model()
    code = f"from schema import {model}; print(sorted({model}.metadata.tables))"
    assert _python(code) == _python(_ALL_MODULES)


def first_model() -> str:
    """The first model class `schema.models` exports, whatever the team named it."""
    import schema.models

    return next(n for n in schema.models.__all__ if n not in ("Base", "metadata"))


def test_every_constraint_and_index_gets_a_conventional_name():
    from sqlalchemy import BigInteger, Column, MetaData, String, Table

    import schema

    # A table of the test's own on a metadata named as the models' is.
    metadata = MetaData(naming_convention=schema.metadata.naming_convention)
    table = Table(
        own_table.TABLE,
        metadata,
        Column("id", BigInteger, primary_key=True),
        Column("name", String, index=True),
        Column("email", String, unique=True),
    )
    names = {c.name for c in table.constraints} | {i.name for i in table.indexes}
    assert names == {own_table.PRIMARY_KEY, own_table.UNIQUE, own_table.INDEX}


def test_a_consumer_sees_the_models_typed(tmp_path):
    """`from schema import <Model>, metadata` is typed for mypy: a model's column is an
    `InstrumentedAttribute[...]`, not `Any` (the models load lazily at run time)."""
    import schema

    model = first_model()
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
