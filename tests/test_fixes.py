"""The safe form a lint finding names is written with the statement's own names, read by
PostgreSQL's parser (pglast), and applies only where it fits."""

import pytest

from dbtools.review.fixes import safe_form

CASES = [
    (
        "require-concurrent-index-creation",
        "CREATE UNIQUE INDEX ix_parcels_code ON parcels (code, zone);",
        'op.create_index_concurrently("ix_parcels_code", "parcels", ["code", "zone"], unique=True)',
    ),
    (
        "require-concurrent-index-deletion",
        "DROP INDEX ix_parcels_code;",
        'op.drop_index_concurrently("ix_parcels_code")',
    ),
    (
        "adding-not-nullable-field",
        "ALTER TABLE parcels ALTER COLUMN zone SET NOT NULL;",
        'op.set_not_null_safely("parcels", "zone")',
    ),
    (
        "constraint-missing-not-valid",
        "ALTER TABLE parcels ADD CONSTRAINT ck_parcels_weight CHECK (weight > 0);",
        'op.add_check_not_valid("ck_parcels_weight", "parcels", "weight > 0")',
    ),
    (
        "adding-foreign-key-constraint",
        "ALTER TABLE parcels ADD CONSTRAINT fk_depot FOREIGN KEY(depot_id) REFERENCES depots(id);",
        'op.add_foreign_key_not_valid("fk_depot", "parcels", "depots", ["depot_id"], ["id"])',
    ),
    (
        "disallowed-unique-constraint",
        "ALTER TABLE parcels ADD CONSTRAINT uq_parcels_code UNIQUE (code);",
        'op.add_unique_using_index("uq_parcels_code", "parcels", ["code"])',
    ),
]


@pytest.mark.parametrize(("rule", "sql", "expected"), CASES)
def test_the_safe_form_carries_the_statement_s_names(rule, sql, expected):
    assert safe_form(rule, sql) == expected


def test_a_volatile_default_becomes_add_then_default_then_backfill():
    written = safe_form(
        "adding-field-with-default",
        "ALTER TABLE parcels ADD COLUMN token UUID DEFAULT gen_random_uuid();",
    )
    assert written is not None
    assert 'op.add_column("parcels", sa.Column("token", <uuid>, nullable=True))' in written
    assert 'server_default=sa.text("gen_random_uuid()")' in written
    assert (
        'op.backfill_in_batches("parcels", set_="token = gen_random_uuid()", where="token IS NULL")'
        in written
    )


def test_no_safe_form_where_it_does_not_fit():
    assert (
        safe_form("require-concurrent-index-creation", "CREATE INDEX CONCURRENTLY ix ON t (a);")
        is None
    )
    assert safe_form("adding-not-nullable-field", "ALTER TABLE t DROP COLUMN a;") is None
    assert safe_form("require-concurrent-index-creation", "not sql at all") is None
    assert safe_form("prefer-bigint-over-int", "ALTER TABLE t ADD COLUMN a int;") is None
