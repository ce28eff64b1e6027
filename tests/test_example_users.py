"""Tests of the example table `users` and its two revisions: a team that deletes the
example deletes this file with it. No other test may name the example table.
"""

from sqlalchemy import text

from tests.chain import REVISIONS


def test_rows_survive_every_later_revision_and_a_downgrade(alembic_runner, alembic_engine):
    """A row written right after the first revision is still there at head, and a row
    written at the second survives stepping back over it and forward again."""
    first, second = REVISIONS[:2]
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
