"""The lock trace: what each revision's statements lock and rewrite, observed, both ways.

In a grown copy, a synthetic table with an enum column is created, then revisions that
block writes on it in the ways a team meets (a plain index, a volatile default,
`SET NOT NULL`, a type change, an `ALTER TYPE` rebuild of its enum) and revisions in the
safe forms. `make generate` writes each revision's trace; each unsafe statement is then
run again by the test itself on a table with rows, and what the trace says is compared
with `pg_locks` (read from a second session inside the open transaction) and
`pg_class.relfilenode`. `make check` refuses the unsafe revisions until they are waived;
the safe forms block no writes in either direction.
"""

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import text

import schema
from dbtools.core.chain import script_directory
from dbtools.review import locks
from tests.harness import clean_env, make
from tests.pg import url_string
from tests.repo_copy import copy_repo, write_revision

HEAD = script_directory().get_current_head()
TABLE = next(n for n in ("trace_items", "trace_items_2") if n not in schema.metadata.tables)
ENUM = f"{TABLE}_kind"

CREATE = f"""
op.execute("CREATE TYPE {ENUM} AS ENUM ('a', 'b')")
op.create_table(
    "{TABLE}",
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("qty", sa.BigInteger(), nullable=False),
    sa.Column("label", sa.Text(), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("kind", sa.Enum(name="{ENUM}", create_type=False), nullable=False),
)
"""


def rebuild_enum(values: str) -> str:
    return f"""
op.execute("ALTER TYPE {ENUM} RENAME TO {ENUM}_old")
op.execute("CREATE TYPE {ENUM} AS ENUM ({values})")
op.execute("ALTER TABLE {TABLE} ALTER COLUMN kind TYPE {ENUM} USING kind::text::{ENUM}")
op.execute("DROP TYPE {ENUM}_old")
"""


# Each unsafe revision: its upgrade, its downgrade, and the statement of the upgrade the
# test runs again itself, with the lock PostgreSQL takes and whether it rewrites.
UNSAFE = {
    "plain index": (
        f'op.create_index("ix_{TABLE}_qty", "{TABLE}", ["qty"])',
        f'op.drop_index("ix_{TABLE}_qty", table_name="{TABLE}")',
        f"CREATE INDEX ix_{TABLE}_qty ON {TABLE} (qty)",
    ),
    "volatile default": (
        f'op.add_column("{TABLE}", sa.Column("r", sa.Float(), server_default=sa.text("random()")))',
        f'op.drop_column("{TABLE}", "r")',
        f"ALTER TABLE {TABLE} ADD COLUMN r FLOAT DEFAULT random()",
    ),
    "set not null": (
        f'op.alter_column("{TABLE}", "label", nullable=False, existing_type=sa.Text())',
        f'op.alter_column("{TABLE}", "label", nullable=True, existing_type=sa.Text())',
        f"ALTER TABLE {TABLE} ALTER COLUMN label SET NOT NULL",
    ),
    "type change": (
        f'op.alter_column("{TABLE}", "qty", type_=sa.Integer(), existing_type=sa.BigInteger())',
        f'op.alter_column("{TABLE}", "qty", type_=sa.BigInteger(), existing_type=sa.Integer())',
        f"ALTER TABLE {TABLE} ALTER COLUMN qty TYPE INTEGER",
    ),
    "alter type": (
        rebuild_enum("'a', 'b', 'c'"),
        rebuild_enum("'a', 'b'"),
        f"ALTER TABLE {TABLE} ALTER COLUMN kind TYPE {ENUM} USING kind::text::{ENUM}",
    ),
}
# What runs before the compared statement when the test replays it.
PRELUDE = {
    "alter type": [
        f"ALTER TYPE {ENUM} RENAME TO {ENUM}_old",
        f"CREATE TYPE {ENUM} AS ENUM ('a', 'b', 'c')",
    ]
}

SAFE = {
    "concurrent index": (
        f'op.create_index_concurrently("ix_{TABLE}_label", "{TABLE}", ["label"])',
        f'op.drop_index_concurrently("ix_{TABLE}_label", "{TABLE}")',
    ),
    "default then backfill": (
        f'op.add_column("{TABLE}", sa.Column("r2", sa.Float(), nullable=True))\n'
        f'op.alter_column("{TABLE}", "r2", server_default=sa.text("random()"))\n'
        f'op.backfill_in_batches("{TABLE}", set_="r2 = random()", where="r2 IS NULL")',
        f'op.drop_column("{TABLE}", "r2")',
    ),
    "not null safely": (
        f'op.set_not_null_safely("{TABLE}", "note")',
        f'op.alter_column("{TABLE}", "note", nullable=True, existing_type=sa.Text())',
    ),
    "check not valid": (
        f'op.add_check_not_valid("ck_{TABLE}_qty_positive", "{TABLE}", "qty > 0")',
        f'op.drop_constraint(op.f("ck_{TABLE}_qty_positive"), "{TABLE}", type_="check")',
    ),
    "enum value added": (
        f"op.execute(\"ALTER TYPE {ENUM} ADD VALUE IF NOT EXISTS 'd' AFTER 'c'\")",
        "pass",
    ),
}


# Last in the chain: fails on a table that holds rows (and only there).
FAILING = (
    f'op.add_column("{TABLE}", sa.Column("required", sa.BigInteger(), nullable=False))',
    f'op.drop_column("{TABLE}", "required")',
)


def trace_of(path: Path) -> dict:
    sql = path.parent.parent / "sql" / f"{path.stem}.trace.json"
    return json.loads(sql.read_text())


def locks_on(statement: dict, relation: str) -> set[str]:
    return {lock["mode"] for lock in statement["locks"] if lock["relation"] == relation}


def statement(trace: dict, direction: str, sql: str) -> dict:
    found = [s for s in trace[direction]["statements"] if s["sql"] == sql]
    assert found, (sql, [s["sql"] for s in trace[direction]["statements"]])
    return found[0]


@pytest.fixture(scope="module")
def grown(tmp_path_factory, server_url):
    """A copy whose chain ends with the synthetic table, the unsafe and the safe
    revisions, generated; and the revision files by name."""
    root = copy_repo(tmp_path_factory.mktemp("trace"))
    ids = [f"ace{n:09d}" for n in range(1, 3 + len(UNSAFE) + len(SAFE))]
    files = {}
    down = HEAD
    steps = [("create", CREATE, f'op.drop_table("{TABLE}")\nop.execute("DROP TYPE {ENUM}")')]
    steps += [(name, up, back) for name, (up, back, _sql) in UNSAFE.items()]
    steps += [(name, up, back) for name, (up, back) in SAFE.items()]
    steps += [("failing", *FAILING)]
    for rev, (name, up, back) in zip(ids, steps, strict=True):
        files[name] = write_revision(root, rev, down, f"Trace test: {name}.", up, back)
        down = rev
    env = clean_env(DATABASE_URL=url_string(server_url))
    done = make(root, "generate", env)
    assert done.returncode == 0, done.stdout + done.stderr
    return root, files, env


@pytest.mark.parametrize("case", list(UNSAFE))
def test_the_trace_shows_the_lock_and_rewrite_postgresql_takes(grown, case, engine):
    _root, files, _env = grown
    trace = trace_of(files[case])
    _up, _down, sql = UNSAFE[case]
    traced = statement(trace, "upgrade", sql)

    # The same statement, run by the test on the table with rows: pg_locks from a second
    # session while its transaction is open, relfilenode before and after.
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TYPE {ENUM} AS ENUM ('a', 'b')"))
        conn.execute(
            text(
                f"CREATE TABLE {TABLE} (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                f"qty bigint NOT NULL, label text, note text, kind {ENUM} NOT NULL)"
            )
        )
        conn.execute(
            text(f"INSERT INTO {TABLE} (qty, label, kind) VALUES (1, 'x', 'a'), (2, 'y', 'b')")
        )
    with engine.connect() as conn, engine.connect() as observer:
        before = conn.execute(text(f"SELECT relfilenode FROM pg_class WHERE relname = '{TABLE}'"))
        before = before.scalar()
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        for replayed in [*PRELUDE.get(case, []), sql]:
            conn.execute(text(replayed))
        modes = observer.execute(
            text(
                "SELECT mode FROM pg_locks WHERE pid = :pid AND locktype = 'relation' "
                f"AND relation = '{TABLE}'::regclass"
            ),
            {"pid": pid},
        ).scalars()
        seen = {locks.mode_name(mode) for mode in modes}
        after = conn.execute(text(f"SELECT relfilenode FROM pg_class WHERE relname = '{TABLE}'"))
        rewritten = after.scalar() != before
        conn.rollback()

    strongest = max(seen, key=locks.MODES.index)
    assert locks.blocks_writes(strongest)
    # Earlier statements of the trace's transaction may hold weaker locks on the table.
    held = set().union(
        *(
            locks_on(s, TABLE)
            for s in trace["upgrade"]["statements"]
            if s["transaction"] == traced["transaction"]
        )
    )
    assert strongest in held, (case, seen, traced)
    assert (TABLE in traced["rewrites"]) is rewritten, (case, traced)
    assert "writes" in traced["blocks"]
    assert trace["upgrade"]["blocks_writes"] is True
    rules = {f["rule"] for f in trace["upgrade"]["findings"] if "waived" not in f}
    assert "trace-blocks-writes" in rules
    assert ("trace-rewrites-table" in rules) is rewritten


def test_downgrades_are_traced_too(grown):
    _root, files, _env = grown
    trace = trace_of(files["type change"])
    back = trace["downgrade"]
    statement_ = statement(trace, "downgrade", f"ALTER TABLE {TABLE} ALTER COLUMN qty TYPE BIGINT")
    assert TABLE in statement_["rewrites"]
    assert "ACCESS EXCLUSIVE" in locks_on(statement_, TABLE)
    assert back["blocks_writes"] is True


@pytest.mark.parametrize("case", list(SAFE))
def test_the_safe_forms_block_no_writes_either_way(grown, case):
    _root, files, _env = grown
    trace = trace_of(files[case])
    for direction in ("upgrade", "downgrade"):
        assert trace[direction]["blocks_writes"] is False, trace[direction]
        assert trace[direction]["findings"] == [], trace[direction]
        assert TABLE in trace[direction]["tables_in_use"]
    if case == "concurrent index":
        # Outside a transaction: the probe saw the lock it waited for on the table.
        [build] = [s for s in trace["upgrade"]["statements"] if "CONCURRENTLY" in s["sql"]]
        assert build["in_transaction"] is False
        assert locks_on(build, TABLE) == {"SHARE UPDATE EXCLUSIVE"}
        [drop] = [s for s in trace["downgrade"]["statements"] if "CONCURRENTLY" in s["sql"]]
        assert "SHARE UPDATE EXCLUSIVE" in locks_on(drop, TABLE)
        assert drop["blocks"] == []


def test_make_check_refuses_them_until_waived(grown):
    root, files, env = grown
    checked = make(root, "check", env)
    assert checked.returncode != 0
    lines = [line for line in checked.stdout.splitlines() if "trace-" in line]
    for case in UNSAFE:
        name = f"{files[case].stem}.trace.json"
        assert any(name in line and "upgrade statement" in line for line in lines), (case, lines)
    for case in SAFE:
        assert not any(files[case].stem in line for line in lines), (case, lines)
    # Downgrades are linted too: the plain index's downgrade drops it without
    # CONCURRENTLY, on a table in use, with the safe form in the revision's names.
    dropped = [
        line
        for line in checked.stdout.splitlines()
        if f"{files['plain index'].stem}.downgrade.sql" in line
        and "require-concurrent-index-deletion" in line
    ]
    assert len(dropped) == 1, checked.stdout
    assert f'[safe form: op.drop_index_concurrently("ix_{TABLE}_qty")]' in dropped[0]
    assert "held briefly" in dropped[0]
    assert not any(
        f"{files['concurrent index'].stem}.downgrade.sql" in line
        for line in checked.stdout.splitlines()
    )

    # Waived in the revision itself, with a reason: the plain index passes the gate.
    path = files["plain index"]
    source = path.read_text()
    call = f'    op.create_index("ix_{TABLE}_qty", "{TABLE}", ["qty"])\n'
    assert call in source
    waiver = '    op.waive_lint("trace-blocks-writes", reason="the table is empty until launch")\n'
    path.write_text(source.replace(call, waiver + call))
    assert make(root, "generate", env).returncode == 0
    trace = trace_of(path)
    [finding] = trace["upgrade"]["findings"]
    assert finding["waived"] == "the table is empty until launch"
    again = make(root, "check", env)
    lines = [line for line in again.stdout.splitlines() if "trace-" in line]
    assert not any(path.stem in line for line in lines), lines
    assert any(files["volatile default"].stem in line for line in lines), lines


def test_the_conflict_table_is_postgresql_s(engine):
    """Every pair of modes, tried on a server: `NOWAIT` fails exactly where the table says."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE lock_pairs (id int)"))
    for held, asked in ((a, b) for a in locks.MODES for b in locks.MODES):
        with engine.connect() as one, engine.connect() as two:
            one.execute(text(f"LOCK TABLE lock_pairs IN {held} MODE"))
            try:
                two.execute(text(f"LOCK TABLE lock_pairs IN {asked} MODE NOWAIT"))
                conflicts = False
            except sa.exc.OperationalError:
                conflicts = True
            assert conflicts is (asked in locks.CONFLICTS[held]), (held, asked)
            one.rollback()
            two.rollback()
    assert [len(locks.blocks(m)) for m in locks.MODES] == [0, 0, 0, 0, 1, 1, 1, 2]


def test_a_revision_that_fails_on_rows_is_a_finding(grown):
    root, files, env = grown
    upgrade = trace_of(files["failing"])["upgrade"]
    assert 'column "required" of relation' in upgrade["error"]
    assert "contains null values" in upgrade["error"]
    assert [f["rule"] for f in upgrade["findings"]] == ["trace-fails"]
    checked = make(root, "check", env)
    assert any(
        files["failing"].stem in line and "trace-fails" in line
        for line in checked.stdout.splitlines()
    ), checked.stdout


def test_a_step_outside_a_transaction_is_traced_among_more_tables_than_connections(
    tmp_path, server_url
):
    """The probe of a step outside a transaction holds every table until the step waits
    for one; one session per table exhausted `max_connections` (100) on a chain of 100
    more tables. It holds them in a bounded number of sessions now."""
    from dbtools.review.revision_trace import trace_in

    root = copy_repo(tmp_path)
    many = (
        "for i in range(120):\n"
        '    op.create_table(f"many_{i}", sa.Column("id", sa.BigInteger(), primary_key=True))'
    )
    write_revision(root, "ma0000000001", HEAD, "Create many tables", many,
                   'for i in range(120):\n    op.drop_table(f"many_{i}")')  # fmt: skip
    index = (
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_many_7_id", "many_7", ["id"], postgresql_concurrently=True)'
    )
    write_revision(root, "ma0000000002", "ma0000000001", "Index many_7", index,
                   'op.drop_index("ix_many_7_id", table_name="many_7")')  # fmt: skip

    upgrade = trace_in(root, "ma0000000002", server_url)["upgrade"]

    assert upgrade.error is None
    [build] = [step for step in upgrade.steps if "CREATE INDEX CONCURRENTLY" in step.sql]
    assert not build.in_transaction
    assert {(lock.relation, lock.mode) for lock in build.locks} == {
        ("many_7", "SHARE UPDATE EXCLUSIVE")
    }


def test_a_statement_after_a_rollback_the_tracer_did_not_see_reads_the_catalog_again(
    tmp_path, server_url
):
    """Within a transaction, a statement starts from the snapshot taken after the one
    before it. A rollback the tracer does not see (the revision's own, on the DBAPI
    connection) restores the catalog: the next statement must read it again, or the
    table the rolled-back statement rewrote would seem rewritten by this one too."""
    from dbtools.review.revision_trace import trace_in

    root = copy_repo(tmp_path)
    create = (
        'op.create_table("rolled", sa.Column("id", sa.BigInteger(), primary_key=True),\n'
        '                sa.Column("v", sa.Integer()))'
    )
    write_revision(root, "rb0000000001", HEAD, "Create rolled", create,
                   'op.drop_table("rolled")')  # fmt: skip
    body = (
        'op.execute("ALTER TABLE rolled ALTER COLUMN v TYPE bigint")\n'
        "op.get_bind().connection.rollback()\n"
        'op.execute("ALTER TABLE rolled ADD COLUMN w integer")'
    )
    write_revision(root, "rb0000000002", "rb0000000001", "Rewrite, roll back, add", body,
                   'op.drop_column("rolled", "w")')  # fmt: skip

    upgrade = trace_in(root, "rb0000000002", server_url)["upgrade"]

    assert upgrade.error is None
    rewritten = {step.sql: step.rewrites for step in upgrade.steps if "rolled" in step.sql}
    assert rewritten == {
        "ALTER TABLE rolled ALTER COLUMN v TYPE bigint": ("pk_rolled", "rolled"),
        "ALTER TABLE rolled ADD COLUMN w integer": (),  # seemed ("pk_rolled", "rolled")
    }
