"""docs/schema.md shows each CHECK as the SQL PostgreSQL is given: its values, and its name as
the naming convention makes it (never `__[POSTCOMPILE_...]` or the bare given name)."""

import sqlalchemy as sa

from dbtools.consume.schema_docs import render
from schema.naming import NAMING_CONVENTION


def test_check_values_and_names_show_in_the_docs():
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    jobs = sa.Table(
        "docs_jobs",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, comment="Key."),
        sa.Column("status", sa.String, comment="Where it stands."),
        comment="Jobs.",
    )
    jobs.append_constraint(sa.CheckConstraint(jobs.c.status.in_(["queued", "done"]), name="known"))
    page = render(metadata)
    assert "POSTCOMPILE" not in page
    assert "- `ck_docs_jobs_known`: `docs_jobs.status IN ('queued', 'done')`" in page
