"""Add the age column to users.

Adds `users.age`, a nullable integer with no default: PostgreSQL records it in the
catalog only, without rewriting the table, so the ACCESS EXCLUSIVE lock lasts
milliseconds and the change is safe while services run. Existing rows read NULL. The
downgrade drops the column and the ages stored in it.

Revision ID: 409207e4393e
Revises: 78593f8e1fa5
Create Date: 2026-11-25 00:06:54.704528+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "409207e4393e"
down_revision: str | Sequence[str] | None = "78593f8e1fa5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.waive_lint("prefer-bigint-over-int", reason="an age in years never nears 2^31")
    op.add_column(
        "users",
        sa.Column(
            "age", sa.Integer(), nullable=True, comment="Age in years, if the person gave it."
        ),
    )


def downgrade() -> None:
    op.drop_column("users", "age")
