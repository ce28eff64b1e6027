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
from sqlalchemy import CheckConstraint, Engine, UniqueConstraint, inspect, text

import schema
from dbtools.core.catalog import differences
from dbtools.core.chain import revisions
from tests.chain import TABLES, UNRELEASED, model_columns
from tests.pg import catalog

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


def version_table(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]


def test_the_chain_upgrades_downgrades_to_base_and_upgrades_again(alembic_runner, alembic_engine):
    """Empty to head, back to base, and up again: nothing left behind, the same head."""
    empty = catalog(alembic_engine)
    alembic_runner.migrate_up_to("heads")
    at_head = catalog(alembic_engine)
    alembic_runner.migrate_down_to("base")
    assert differences(empty, catalog(alembic_engine)) == []
    assert version_table(alembic_engine) == []
    alembic_runner.migrate_up_to("heads")
    assert differences(at_head, catalog(alembic_engine)) == []


def test_each_new_revision_upgrades_downgrades_and_upgrades_again(alembic_runner, alembic_engine):
    """Each revision not released yet, one step at a time (released ones are immutable and
    covered by the whole-chain test above)."""
    parent = {s.revision: s.down_revision for s in revisions()}
    for revision in UNRELEASED:
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
