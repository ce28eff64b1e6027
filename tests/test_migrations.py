"""The chain of revisions: one head, every step up and down, models and database agree.

The standard checks come from pytest-alembic, run against a real PostgreSQL database of
each test's own (the `alembic_engine` fixture).
"""

from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace
from sqlalchemy import Engine, inspect, text

from dbtools.core.catalog import describe, differences
from dbtools.core.chain import revisions

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


def catalog_of(engine: Engine) -> dict:
    with engine.connect() as conn:
        return describe(conn)


def version_table(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]


def test_every_revision_upgrades_downgrades_and_upgrades_again(alembic_runner, alembic_engine):
    parent = {s.revision: s.down_revision for s in revisions()}
    for revision in real_revisions(alembic_runner):
        alembic_runner.migrate_up_to(revision)
        assert version_table(alembic_engine) == [revision]
        before = catalog_of(alembic_engine)

        alembic_runner.migrate_down_one()
        # Exactly one step back: the parent, or no version row below the first revision.
        assert version_table(alembic_engine) == ([parent[revision]] if parent[revision] else [])
        alembic_runner.migrate_up_to(revision)

        assert version_table(alembic_engine) == [revision]
        assert differences(before, catalog_of(alembic_engine)) == []


def test_head_builds_the_users_table_the_models_describe(alembic_runner, alembic_engine):
    alembic_runner.migrate_up_to("heads")
    inspector = inspect(alembic_engine)

    columns = {c["name"]: c for c in inspector.get_columns("users")}
    assert list(columns) == ["id", "name", "email", "age"]
    assert str(columns["id"]["type"]) == "BIGINT"
    assert columns["id"]["identity"]["always"] is False
    assert columns["age"]["nullable"] is True

    assert inspector.get_pk_constraint("users")["name"] == "pk_users"
    assert [u["name"] for u in inspector.get_unique_constraints("users")] == ["uq_users_email"]
    # Only the name index: the key and the unique email carry their own.
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("users")}
    assert indexes == {"ix_users_name": ["name"], "uq_users_email": ["email"]}
    assert inspector.get_table_comment("users")["text"] == "People who sign in to the services."


def test_rows_survive_later_revisions_and_downgrades(alembic_runner, alembic_engine):
    first, second = real_revisions(alembic_runner)[:2]
    alembic_runner.migrate_up_to(first)
    alembic_runner.insert_into("users", {"name": "Ada", "email": "ada@example.org"})

    alembic_runner.migrate_up_to(second)
    alembic_runner.insert_into("users", {"name": "Grace", "email": "grace@example.org", "age": 85})
    alembic_runner.migrate_down_one()
    alembic_runner.migrate_up_to("heads")

    with alembic_engine.connect() as conn:
        rows = conn.execute(text("SELECT name, email, age FROM users ORDER BY id")).all()
    # The downgrade dropped `age`, so Grace's age is gone; both people remain.
    assert [tuple(r) for r in rows] == [
        ("Ada", "ada@example.org", None),
        ("Grace", "grace@example.org", None),
    ]
