"""The chain of revisions: one head, every step up and down, models and database agree.

The standard checks come from pytest-alembic, run against a real PostgreSQL database of
each test's own (the `alembic_engine` fixture).
"""

import pytest
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace
from sqlalchemy import CheckConstraint, Engine, UniqueConstraint, inspect, text

import schema
from dbtools.core.catalog import differences
from dbtools.core.chain import revisions
from tests.chain import TABLES, model_columns
from tests.pg import catalog

__all__ = [
    "test_downgrade_leaves_no_trace",
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


def real_revisions(alembic_runner) -> list[str]:
    """Revision ids from first to head (pytest-alembic also lists 'base' and 'heads')."""
    return [r for r in alembic_runner.history.revisions if r not in ("base", "heads")]


def version_table(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]


def test_every_revision_upgrades_downgrades_and_upgrades_again(alembic_runner, alembic_engine):
    parent = {s.revision: s.down_revision for s in revisions()}
    for revision in real_revisions(alembic_runner):
        alembic_runner.migrate_up_to(revision)
        assert version_table(alembic_engine) == [revision]
        before = catalog(alembic_engine)

        alembic_runner.migrate_down_one()
        # Exactly one step back: the parent, or no version row below the first revision.
        assert version_table(alembic_engine) == ([parent[revision]] if parent[revision] else [])
        alembic_runner.migrate_up_to(revision)

        assert version_table(alembic_engine) == [revision]
        assert differences(before, catalog(alembic_engine)) == []


@pytest.mark.parametrize("table", TABLES)
def test_head_builds_each_table_the_models_describe(table, alembic_runner, alembic_engine):
    """Names, keys and comments as the models give them (the comparison of pytest-alembic
    does not look at names or comments)."""
    model = schema.metadata.tables[table]
    alembic_runner.migrate_up_to("heads")
    inspector = inspect(alembic_engine)

    columns = {c["name"]: c for c in inspector.get_columns(table)}
    assert sorted(columns) == model_columns(table)
    for column in model.columns:
        assert columns[column.name]["nullable"] == column.nullable, column.name
        assert columns[column.name]["comment"] == column.comment, column.name
    assert inspector.get_pk_constraint(table)["name"] == model.primary_key.name
    uniques = {u["name"] for u in inspector.get_unique_constraints(table)}
    assert uniques == {c.name for c in model.constraints if isinstance(c, UniqueConstraint)}
    checks = {c["name"] for c in inspector.get_check_constraints(table)}
    assert checks == {c.name for c in model.constraints if isinstance(c, CheckConstraint)}
    indexes = {i["name"] for i in inspector.get_indexes(table)}
    assert {i.name for i in model.indexes} <= indexes
    assert inspector.get_table_comment(table)["text"] == model.comment


def test_rows_survive_every_later_revision_and_a_downgrade(alembic_runner, alembic_engine):
    """A row written right after the first revision is still there at head, and a row
    written at the second survives stepping back over it and forward again."""
    first, second = real_revisions(alembic_runner)[:2]
    alembic_runner.migrate_up_to(first)
    alembic_runner.insert_into("users", {"name": "Ada", "email": "ada@example.org"})

    alembic_runner.migrate_up_to(second)
    alembic_runner.insert_into("users", {"name": "Grace", "email": "grace@example.org"})
    alembic_runner.migrate_down_one()
    alembic_runner.migrate_up_to("heads")

    with alembic_engine.connect() as conn:
        rows = conn.execute(text("SELECT name, email FROM users ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        ("Ada", "ada@example.org"),
        ("Grace", "grace@example.org"),
    ]
