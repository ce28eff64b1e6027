"""A safe step keeps an existing object of its name only when it is what the step builds.

A revision chained off head (in a copy of the repository) runs one safe step on a table
of the test's own. Before the run the database already holds an object of the step's
name: the same definition (kept: the run succeeds, nothing is rebuilt) or another one
(an index on another column, with another WHERE, a CHECK with another expression, a
foreign key to another column, a unique constraint on other columns): the run fails
with one line naming both definitions, the version stays at head, and the existing
object is untouched.
"""

import pytest
from sqlalchemy import Engine, text

from tests.chain import HEAD, free_table
from tests.repo_copy import copy_repo, write_revision
from tests.runs import cli_env, error_line, run, versions

NEW = "c3c3c3c3c3c3"
T = free_table("parcels")
SETUP = f"""
CREATE TABLE {T} (id bigint PRIMARY KEY, code text, weight int, sender_id bigint);
INSERT INTO {T} SELECT g, 'c' || g, g, g FROM generate_series(1, 20) g;
"""

# (name, the step, the object already there, whether it matches, what both sides show)
CASES = {
    "index on another column": (
        f'op.create_index_concurrently("ix_{T}_code", "{T}", ["code"])',
        f"CREATE INDEX ix_{T}_code ON {T} (weight)",
        False,
        [f"CREATE INDEX ix_{T}_code ON public.{T} USING btree (weight)", "USING btree (code)"],
    ),
    "index with another WHERE": (
        f'op.create_index_concurrently("ix_{T}_code", "{T}", ["code"], '
        'postgresql_where=sa.text("weight > 10"))',
        f"CREATE INDEX ix_{T}_code ON {T} (code) WHERE weight > 100",
        False,
        ["WHERE (weight > 100)", "WHERE (weight > 10)"],
    ),
    "index not unique where the step's is": (
        f'op.create_index_concurrently("ix_{T}_code", "{T}", ["code"], unique=True)',
        f"CREATE INDEX ix_{T}_code ON {T} (code)",
        False,
        [f"the step builds `CREATE UNIQUE INDEX ix_{T}_code ON {T} USING btree (code)`"],
    ),
    "the same index, written differently": (
        f'op.create_index_concurrently("ix_{T}_code", "{T}", [sa.text("lower(code)")], '
        'postgresql_where=sa.text("weight>10"))',
        f"CREATE INDEX ix_{T}_code ON {T} (lower(code)) WHERE (weight > 10)",
        True,
        [],
    ),
    "CHECK with another expression": (
        f'op.add_check_not_valid("ck_{T}_weight_positive", "{T}", "weight > 0")',
        f"ALTER TABLE {T} ADD CONSTRAINT ck_{T}_weight_positive CHECK (weight > -5)",
        False,
        ["CHECK ((weight > '-5'::integer))", "CHECK ((weight > 0))"],
    ),
    "the same CHECK": (
        f'op.add_check_not_valid("ck_{T}_weight_positive", "{T}", "weight > 0")',
        f"ALTER TABLE {T} ADD CONSTRAINT ck_{T}_weight_positive CHECK ((weight > 0)) NOT VALID",
        True,
        [],
    ),
    "NOT NULL helper CHECK with another expression": (
        f'op.set_not_null_safely("{T}", "code")',
        f"ALTER TABLE {T} ADD CONSTRAINT ck_{T}_code_not_null CHECK (weight IS NOT NULL)",
        False,
        ["CHECK ((weight IS NOT NULL))", "CHECK ((code IS NOT NULL))"],
    ),
    "foreign key to another column": (
        f'op.add_foreign_key_not_valid("fk_{T}_sender_id", "{T}", "{T}", ["sender_id"], ["id"])',
        f"CREATE UNIQUE INDEX {T}_weight_key ON {T} (weight);"
        f"ALTER TABLE {T} ADD CONSTRAINT fk_{T}_sender_id FOREIGN KEY (sender_id) "
        f"REFERENCES {T} (weight)",
        False,
        [f"REFERENCES {T}(weight)", f"FOREIGN KEY (sender_id) REFERENCES {T}(id)"],
    ),
    "unique constraint on other columns": (
        f'op.add_unique_using_index("uq_{T}_code", "{T}", ["code"])',
        f"ALTER TABLE {T} ADD CONSTRAINT uq_{T}_code UNIQUE (code, weight)",
        False,
        ["UNIQUE (code, weight)", "UNIQUE (code)"],
    ),
}

DEFINITIONS = """
SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
WHERE i.indrelid = to_regclass(:t)
UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = to_regclass(:t)
ORDER BY 1
"""


def definitions(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(DEFINITIONS), {"t": T})]


@pytest.mark.parametrize("case", CASES)
def test_an_existing_object_is_kept_only_when_it_matches(case, tmp_path, database_url, engine):
    step, existing, matches, shown = CASES[case]
    root = copy_repo(tmp_path)
    write_revision(root, NEW, HEAD, "One safe step.", step)
    with engine.begin() as conn:
        for statement in (SETUP + existing).split(";"):
            if statement.strip():
                conn.execute(text(statement))
    before = definitions(engine)

    done = run(root, ["upgrade", "head"], cli_env(database_url))

    if matches:
        assert done.returncode == 0, done.stderr
        assert versions(engine) == [NEW]
        # Kept, not rebuilt or added again (a NOT VALID one is validated now).
        assert definitions(engine) == [(n, d.removesuffix(" NOT VALID")) for n, d in before]
        return
    assert done.returncode != 0
    line = error_line(done.stderr)
    assert f"revision {NEW} (One safe step) failed" in line, line
    assert "exists" in line and "is not the one this step" in line, line
    for part in shown:
        assert part in line, line
    assert versions(engine) == [HEAD]
    assert definitions(engine) == before  # the other object is untouched
