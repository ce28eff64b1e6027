"""`make verify`: a live database against the schema its recorded revision should have.

Every case migrates a database of its own with the real chain (from a copy of the kept
database of the released chain, which applied it once; from empty where the case is
about revisions below it), changes it by hand the way incidents do, and runs
`python -m dbtools verify` as a user would. Tables, columns, indexes and constraints are
picked from the models (`schema.metadata`), revisions from the chain, so the cases follow
the schema as it grows.
"""

import json

import pytest
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, UniqueConstraint

from dbtools.apply.lock import MIGRATION_LOCK_KEY
from dbtools.core.paths import REPO_ROOT
from dbtools.verify.expected import drop_templates
from tests.chain import UNRELEASED
from tests.harness import start
from tests.migrate import migrate_to
from tests.repo_copy import psql
from tests.runs import engine_for, error_line
from tests.verifying import (
    execute,
    head,
    model_table,
    qualified,
    snapshot,
    template_databases,
    verify,
    verify_env,
    verify_json,
)


@pytest.fixture
def database_url(database_at_release):
    return database_at_release


def test_a_database_as_migrated_verifies_and_is_left_unchanged(database_url, server_url):
    migrate_to(database_url, "head")
    before = snapshot(database_url)

    done = verify(database_url, server_url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"matches revision {head()}"
    assert snapshot(database_url) == before


# Revisions not released yet, and base; head is the test above, whatever it is.
@pytest.mark.parametrize("revision", ["base", *UNRELEASED])
def test_a_database_at_any_revision_is_compared_with_that_revision(
    revision, empty_database_url, server_url
):
    database_url = empty_database_url
    if revision != "base":
        migrate_to(database_url, revision)

    report = verify_json(database_url, server_url)

    assert report["status"] == "match", report["differences"]
    assert report["revision"] == revision
    assert revision.lower() in report["template"]
    # The same database at a revision it is not at differs: the comparison is real.
    if revision != head():
        migrate_to(database_url, "head")
        execute(database_url, f"UPDATE alembic_version SET version_num = '{revision}'")
        if revision == "base":
            execute(database_url, "DELETE FROM alembic_version")
        assert verify_json(database_url, server_url)["status"] == "drift"


def test_the_template_is_built_once_and_reused(database_url, server_url):
    migrate_to(database_url, "head")
    verify(database_url, server_url)
    templates = template_databases(server_url)

    again = verify_json(database_url, server_url)

    assert template_databases(server_url) == templates  # no new database, none rebuilt
    assert again["template"] in templates


# Each hand-made change: (SQL that makes it, the kind verify must name, the object).


def _non_key_column(table):
    # Neither a primary nor a foreign key: its type can change on its own.
    return next(c for c in table.columns if not c.primary_key and not c.foreign_keys)


def _has_non_key_column(table):
    return any(not c.primary_key and not c.foreign_keys for c in table.columns)


def extra_column():
    table = model_table("a table", lambda t: True)
    return (
        [f"ALTER TABLE {qualified(table)} ADD COLUMN verify_hand_made text"],
        "column-extra",
        f"{qualified(table)}.verify_hand_made",
    )


def missing_column():
    table = model_table("a column outside the primary key", _has_non_key_column)
    column = _non_key_column(table)
    return (
        [f"ALTER TABLE {qualified(table)} DROP COLUMN {column.name}"],
        "column-missing",
        f"{qualified(table)}.{column.name}",
    )


def changed_type():
    table = model_table("a column outside the primary key", _has_non_key_column)
    column = _non_key_column(table)
    new = "varchar(7)" if str(column.type) == "TEXT" else "text"
    return (
        [f"ALTER TABLE {qualified(table)} ALTER COLUMN {column.name} TYPE {new}"],
        "column-type",
        f"{qualified(table)}.{column.name}",
    )


def dropped_index():
    table = model_table("an index", lambda t: t.indexes)
    index = sorted(table.indexes, key=lambda i: i.name)[0]
    return (
        [f"DROP INDEX {table.schema or 'public'}.{index.name}"],
        "index-missing",
        f"{table.schema or 'public'}.{index.name}",
    )


def extra_index():
    table = model_table("a column outside the primary key", _has_non_key_column)
    column = _non_key_column(table)
    return (
        [f"CREATE INDEX verify_hand_made_ix ON {qualified(table)} ({column.name})"],
        "index-extra",
        f"{table.schema or 'public'}.verify_hand_made_ix",
    )


def invalid_index():
    # What a failed or cancelled CREATE INDEX CONCURRENTLY leaves behind: the index is in
    # the catalog, marked not valid. Set directly, as the failure needs a race to provoke.
    table = model_table("an index", lambda t: t.indexes)
    index = sorted(table.indexes, key=lambda i: i.name)[0]
    name = f"{table.schema or 'public'}.{index.name}"
    return (
        [f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{name}'::regclass"],
        "index-invalid",
        name,
    )


def _named_constraints(table):
    kinds = (UniqueConstraint, CheckConstraint, ForeignKeyConstraint)
    return sorted(
        (c for c in table.constraints if isinstance(c, kinds) and c.name),
        key=lambda c: c.name,
    )


def dropped_constraint():
    table = model_table("a unique, check or foreign key constraint", _named_constraints)
    constraint = _named_constraints(table)[0]
    return (
        [f"ALTER TABLE {qualified(table)} DROP CONSTRAINT {constraint.name}"],
        "constraint-missing",
        f"{qualified(table)}.{constraint.name}",
    )


def unvalidated_constraint():
    table = model_table("a unique, check or foreign key constraint", _named_constraints)
    constraint = _named_constraints(table)[0]
    key = f"{qualified(table)}.{constraint.name}"
    if isinstance(constraint, CheckConstraint | ForeignKeyConstraint):
        # Dropped to get a load through, then added back without checking the rows.
        body = (
            "(SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            f"WHERE conname = '{constraint.name}')"
        )
        return (
            [
                f"DO $$ DECLARE d text := {body}; BEGIN "
                f"EXECUTE 'ALTER TABLE {qualified(table)} DROP CONSTRAINT {constraint.name}'; "
                f"EXECUTE 'ALTER TABLE {qualified(table)} ADD CONSTRAINT {constraint.name} ' "
                "|| d || ' NOT VALID'; END $$"
            ],
            "constraint-not-validated",
            key,
        )
    # Only CHECK and FOREIGN KEY take NOT VALID; for a unique constraint the catalog flag
    # is set directly (tests/test_verify_probe.py covers a CHECK added NOT VALID for real).
    return (
        [
            "UPDATE pg_constraint SET convalidated = false "
            f"WHERE conname = '{constraint.name}' AND conrelid = '{qualified(table)}'::regclass"
        ],
        "constraint-not-validated",
        key,
    )


def changed_table_comment():
    table = model_table("a table", lambda t: True)
    return (
        [f"COMMENT ON TABLE {qualified(table)} IS 'changed by hand'"],
        "comment",
        f"table {qualified(table)}",
    )


def changed_column_comment():
    table = model_table("a commented column", lambda t: any(c.comment for c in t.columns))
    column = next(c for c in table.columns if c.comment)
    return (
        [f"COMMENT ON COLUMN {qualified(table)}.{column.name} IS NULL"],
        "comment",
        f"column {qualified(table)}.{column.name}",
    )


def extra_table():
    # With a key, a serial sequence, an index and an enum column: DROP TABLE takes the
    # first three along, and the type is dropped after it.
    return (
        [
            "CREATE TYPE public.verify_hand_made_kind AS ENUM ('a', 'b')",
            "CREATE TABLE public.verify_hand_made "
            "(id serial PRIMARY KEY, kind public.verify_hand_made_kind)",
            "CREATE INDEX verify_hand_made_kind_ix ON public.verify_hand_made (kind)",
        ],
        "table-extra",
        "public.verify_hand_made",
    )


def hand_made_enum():
    # The models have no enum today; one made by hand is named as such.
    return (
        ["CREATE TYPE public.verify_mood AS ENUM ('ok', 'sad')"],
        "enum-extra",
        "public.verify_mood",
    )


def _defaultable(column):
    return not column.primary_key and column.type.python_type in (str, int)


def changed_default():
    table = model_table("a text or integer column", lambda t: any(map(_defaultable, t.columns)))
    column = next(c for c in table.columns if _defaultable(c))
    value = "'x'" if column.type.python_type is str else "0"
    return (
        [f"ALTER TABLE {qualified(table)} ALTER COLUMN {column.name} SET DEFAULT {value}"],
        "column-default",
        f"{qualified(table)}.{column.name}",
    )


def changed_nullability():
    table = model_table("a nullable column", lambda t: any(c.nullable for c in t.columns))
    column = next(c for c in table.columns if c.nullable)
    return (
        [f"ALTER TABLE {qualified(table)} ALTER COLUMN {column.name} SET NOT NULL"],
        "column-nullable",
        f"{qualified(table)}.{column.name}",
    )


def changed_identity():
    table = model_table("an identity column", lambda t: any(c.identity for c in t.columns))
    column = next(c for c in table.columns if c.identity)
    other = "BY DEFAULT" if column.identity.always else "ALWAYS"
    return (
        [f"ALTER TABLE {qualified(table)} ALTER COLUMN {column.name} SET GENERATED {other}"],
        "column-identity",
        f"{qualified(table)}.{column.name}",
    )


def extra_view():
    table = model_table("a table", lambda t: True)
    return (
        [f"CREATE VIEW public.verify_hand_made_v AS SELECT * FROM {qualified(table)}"],
        "view-extra",
        "public.verify_hand_made_v",
    )


def extra_function():
    return (
        ["CREATE FUNCTION public.verify_twice(x int) RETURNS int LANGUAGE sql AS 'SELECT 2 * x'"],
        "function-extra",
        "public.verify_twice(x integer)",
    )


def extra_sequence():
    return (["CREATE SEQUENCE public.verify_numbers"], "sequence-extra", "public.verify_numbers")


CHANGES = [
    changed_default,
    changed_nullability,
    changed_identity,
    extra_view,
    extra_function,
    extra_sequence,
    extra_column,
    missing_column,
    changed_type,
    dropped_index,
    extra_index,
    invalid_index,
    dropped_constraint,
    unvalidated_constraint,
    changed_table_comment,
    changed_column_comment,
    extra_table,
    hand_made_enum,
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_each_hand_made_change_is_named_and_its_fix_restores_it(change, database_url, server_url):
    statements, kind, obj = change()
    migrate_to(database_url, "head")
    execute(database_url, *statements)
    before = snapshot(database_url)

    done = verify(database_url, server_url)

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{kind}: {obj}" in done.stdout.splitlines()
    assert error_line(done.stderr).startswith(f"error: the database differs from revision {head()}")
    assert snapshot(database_url) == before  # verify only read
    # The fix it prints, run as a DBA would, brings the database back to its revision.
    report = verify_json(database_url, server_url)
    # Dropping a column also drops its indexes: verify names those too.
    assert (kind, obj) in [(d["kind"], d["object"]) for d in report["differences"]]
    fixed = psql(database_url, "\n".join(d["fix"] for d in report["differences"]))
    assert fixed.returncode == 0, fixed.stderr
    assert verify(database_url, server_url).returncode == 0


def test_json_output_holds_every_difference_with_its_fields(database_url, server_url):
    migrate_to(database_url, "head")
    changes = [extra_column(), extra_index(), changed_table_comment()]
    execute(database_url, *[s for statements, _, _ in changes for s in statements])

    done = verify(database_url, server_url, VERIFY_FORMAT="json")

    assert done.returncode == 1
    report = json.loads(done.stdout)  # stdout is the JSON document alone
    assert report["status"] == "drift"
    assert report["revision"] == head()
    assert "public" in report["schemas"]
    assert sorted((d["kind"], d["object"]) for d in report["differences"]) == sorted(
        (kind, obj) for _, kind, obj in changes
    )
    for d in report["differences"]:
        assert set(d) == {"kind", "object", "expected", "actual", "fix"}
        assert d["fix"].rstrip().endswith(";")
    comment = next(d for d in report["differences"] if d["kind"] == "comment")
    assert comment["actual"] == "changed by hand"
    assert error_line(done.stderr).startswith("error: the database differs")


def test_a_migration_in_flight_is_not_reported_as_drift(database_url, server_url):
    migrate_to(database_url, "head")
    execute(database_url, "CREATE TABLE public.verify_half_done (id int)")
    holder = engine_for(database_url)
    try:
        with holder.connect() as conn:
            # What a migration run holds for its whole length (dbtools/locking.py).
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
            done = verify(database_url, server_url)
            as_json = verify(database_url, server_url, VERIFY_FORMAT="json")
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
    finally:
        holder.dispose()

    assert done.returncode == 1
    assert "a migration is running" in error_line(done.stderr)
    assert "verify_half_done" not in done.stdout
    assert '"status": "migration-running"' in as_json.stdout
    # Once the migration has finished, the same database is verified again.
    assert "table-extra: public.verify_half_done" in verify(database_url, server_url).stdout


def test_other_schemas_are_ignored_unless_named(database_url, server_url):
    migrate_to(database_url, "head")
    execute(
        database_url,
        "CREATE SCHEMA verify_reporting",
        "CREATE TABLE verify_reporting.daily (day date)",
    )

    assert verify(database_url, server_url).returncode == 0
    named = verify_json(database_url, server_url, VERIFY_SCHEMAS="verify_reporting")
    assert ("table-extra", "verify_reporting.daily") in [
        (d["kind"], d["object"]) for d in named["differences"]
    ]


def test_bookkeeping_rows_are_ignored_but_their_owner_is_checked(database_url, server_url):
    migrate_to(database_url, "head")
    execute(database_url, "DELETE FROM migration_audit.migration_log")
    assert verify(database_url, server_url).returncode == 0

    role = "verify_stranger"
    execute(
        database_url,
        f"DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        f"ALTER TABLE alembic_version OWNER TO {role}",
    )
    report = verify_json(database_url, server_url)
    assert [(d["kind"], d["object"], d["actual"]) for d in report["differences"]] == [
        ("owner", "table public.alembic_version", role)
    ]
    assert report["differences"][0]["fix"].startswith("ALTER TABLE public.alembic_version OWNER TO")


def test_two_first_verifies_at_once_share_one_template(database_url, server_url):
    migrate_to(database_url, "head")
    drop_templates(server_url)  # both runs must build it

    runs = [start(REPO_ROOT, ["verify"], verify_env(database_url, server_url)) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    templates = template_databases(server_url)
    assert [name for name in templates if "_build_" in name] == []  # no build left behind
    assert len(templates) == 1


def test_a_schema_named_after_the_role_does_not_capture_verify(database_url, server_url):
    """The default search_path starts with "$user": a schema of the verifying role's name
    holding a decoy version table (or a decoy of a model table) must not be read."""
    migrate_to(database_url, "head")
    role = server_url.username or "postgres"
    table = model_table("a table", lambda t: True)
    execute(
        database_url,
        f'CREATE SCHEMA "{role}"',
        f'CREATE TABLE "{role}".alembic_version (version_num varchar(32) PRIMARY KEY)',
        f"INSERT INTO \"{role}\".alembic_version VALUES ('decoy0000000')",
        f'CREATE TABLE "{role}".{table.name} (decoy int)',
    )

    done = verify(database_url, server_url)

    assert done.stdout.strip() == f"matches revision {head()}", done.stdout + done.stderr
