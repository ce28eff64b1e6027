"""Enum values removed, added and renamed through the revisions `make revision` writes,
both directions, on real PostgreSQL with rows, around a view that reads the column and
a partial index whose predicate names a value, a CHECK that names one and a default.

Each test grows a copy of the repository with a table of its own (never the example's)."""

import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

import schema
from dbtools.review.lint import Finding, SqlSource, apply_waivers
from tests.harness import clean_env, make
from tests.own_models import add_module, edit, free_table, revision, write_docstring
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools, write_revision

TABLE = free_table("parcels")
ENUM = f"{TABLE}_state"[:63]
INDEX = f"ix_{TABLE}_lost"[:63]
VIEW = f"{TABLE}_in_transit"[:63]
MATVIEW = f"{TABLE}_counts"[:63]
CLASS = "Parcel"
MODEL = f'''"""The `{TABLE}` table."""

import enum

from sqlalchemy import BigInteger, CheckConstraint, Enum, Identity, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class ParcelState(enum.Enum):
    packed = "packed"
    shipped = "shipped"
    lost = "lost"
    delivered = "delivered"


class {CLASS}(Base):
    __tablename__ = "{TABLE}"
    __table_args__ = (
        Index("{INDEX}", "id", postgresql_where=text("state = 'lost'")),
        CheckConstraint("state <> 'lost' OR id > 0", name="lost_has_a_key"),
        {{"comment": "Parcels on their way."}},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
    state: Mapped[ParcelState] = mapped_column(
        Enum(ParcelState, name="{ENUM}"), server_default="packed", comment="Where it is."
    )
'''
ROWS = [("packed",), ("shipped",), ("lost",), ("delivered",), ("shipped",)]
FINDING = re.compile(r"warning: (\S+) |: (trace-[a-z-]+): ")


def grown(tmp_path: Path, database_url) -> tuple[Path, dict[str, str]]:
    """A copy with the table, migrated, holding rows."""
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(database_url))
    add_module(root, TABLE, [CLASS], MODEL)
    revision(root, env, "Create parcels", "A new table and its type; nothing in use is locked.")
    upgraded = dbtools(root, ["upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    return root, env


def insert_rows(engine: Engine, states: list[str]) -> None:
    with engine.begin() as conn:
        for state in states:
            conn.execute(
                text(f"INSERT INTO {TABLE} (state) VALUES (CAST(:s AS {ENUM}))"), {"s": state}
            )


def hand_revision(root: Path, env: dict[str, str], message: str, up: str, down: str) -> None:
    head = (root / "migrations" / "HEAD").read_text().strip()
    write_revision(root, uuid.uuid4().hex[:12], head, message, up, down)
    generated = make(root, "generate", env)
    assert generated.returncode == 0, generated.stdout + generated.stderr


def add_view(root: Path, env: dict[str, str]) -> None:
    """A view over the column (with options, a comment and a grant), written by hand."""
    up = f"""
    op.execute(
        "CREATE VIEW {VIEW} WITH (security_barrier) AS "
        "SELECT id, state FROM {TABLE} WHERE state IN ('shipped', 'lost')"
    )
    op.execute("COMMENT ON VIEW {VIEW} IS 'Parcels not yet delivered.'")
    op.execute("GRANT SELECT ON {VIEW} TO PUBLIC")
    """
    hand_revision(root, env, "A view of parcels in transit.", up, f'op.execute("DROP VIEW {VIEW}")')


def catalog(engine: Engine) -> dict[str, object]:
    """What the database holds: the labels, the view, the index, the rows."""
    with engine.connect() as conn:
        labels = conn.execute(
            text(
                "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                "WHERE t.typname = :n ORDER BY e.enumsortorder"
            ),
            {"n": ENUM},
        ).scalars()
        view = conn.execute(
            text(
                "SELECT pg_get_viewdef(c.oid), c.reloptions, obj_description(c.oid, 'pg_class'),"
                " c.relacl::text[] FROM pg_class c WHERE c.oid = to_regclass(:v)"
            ),
            {"v": VIEW},
        ).first()
        index = conn.execute(
            text(
                "SELECT pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i "
                "WHERE i.indexrelid = to_regclass(:i)"
            ),
            {"i": INDEX},
        ).first()
        rows = conn.execute(text(f"SELECT id, state::text FROM {TABLE} ORDER BY id")).all()
        types = conn.execute(
            text("SELECT typname FROM pg_type WHERE typname LIKE :p ORDER BY 1"),
            {"p": f"{ENUM[:59]}%"},
        ).scalars()
        default = conn.execute(
            text(
                "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
                "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                "WHERE d.adrelid = to_regclass(:t) AND a.attname = 'state'"
            ),
            {"t": TABLE},
        ).scalar()
        check = conn.execute(
            text(
                "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint "
                "WHERE conrelid = to_regclass(:t) AND contype = 'c'"
            ),
            {"t": TABLE},
        ).all()
        return {
            "labels": list(labels),
            "check": [tuple(c) for c in check],
            "view": tuple(view) if view else None,
            "index": tuple(index) if index else None,
            "rows": [tuple(r) for r in rows],
            "types": list(types),
            "default": default,
        }


def findings(stdout: str) -> list[str]:
    """The rule of each problem `make check` listed."""
    rules = []
    for line in stdout.splitlines():
        if line.startswith("  - "):
            match = FINDING.search(line)
            rules.append(next(g for g in match.groups() if g) if match else line)
    return rules


def test_a_removed_value_is_linted_once_per_finding_and_waived_per_statement(
    tmp_path, database_url
):
    root, env = grown(tmp_path, database_url)
    edit(root / "schema" / f"{TABLE}.py", '    delivered = "delivered"\n', "")
    path = revision(root, env, "Nothing is delivered", "The type is rebuilt; parcels is rewritten.")
    source = path.read_text()
    assert "op.change_enum_values(" in source and "sync_enum_values" not in source

    checked = make(root, "check", env)
    # What really blocks the table stays, once each; nothing else (no ruff finding, no
    # finding on the rebuild's own DROP TYPE / RENAME, no duplicates).
    assert sorted(findings(checked.stdout)) == [
        "changing-column-type",
        "trace-blocks-writes",
        "trace-rewrites-table",
    ], checked.stdout

    waiver = (
        '    op.waive_lint(\n        ["changing-column-type", "trace-blocks-writes", '
        '"trace-rewrites-table"],\n        reason="parcels holds a few hundred rows",\n    )\n'
    )
    call = "    op.change_enum_values(\n"
    source = path.read_text()
    path.write_text(source.replace(call, waiver + call, 1))  # the upgrade's, the first
    assert make(root, "generate", env).returncode == 0
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_removed_and_added_values_rebuild_around_the_view_and_the_index(tmp_path, database_url):
    root, env = grown(tmp_path, database_url)
    add_view(root, env)
    assert dbtools(root, ["upgrade"], env).returncode == 0
    engine = schema.make_engine(database_url)
    try:
        insert_rows(engine, [s for (s,) in ROWS])
        before = catalog(engine)
        assert before["view"] is not None and before["index"][1]

        # A value added (upgrade: ADD VALUE; downgrade: the type rebuilt without it).
        edit(
            root / "schema" / f"{TABLE}.py",
            '    lost = "lost"\n',
            '    lost = "lost"\n    returned = "returned"\n',
        )
        revision(root, env, "Parcels can come back", "A value added; the downgrade rebuilds.")
        up = dbtools(root, ["upgrade"], env)
        assert up.returncode == 0, up.stderr
        added = catalog(engine)
        assert added["labels"] == ["packed", "shipped", "lost", "returned", "delivered"]
        down = dbtools(root, ["downgrade"], env)
        assert down.returncode == 0, down.stderr
        assert catalog(engine) == before
        assert dbtools(root, ["upgrade"], env).returncode == 0

        # A value removed no row uses: the rebuild in the upgrade, ADD VALUE back down.
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {TABLE} SET state = 'packed' WHERE state = 'delivered'"))
        before = catalog(engine)
        edit(root / "schema" / f"{TABLE}.py", '    delivered = "delivered"\n', "")
        revision(root, env, "Nothing is delivered", "A value removed; the type is rebuilt.")
        up = dbtools(root, ["upgrade"], env)
        assert up.returncode == 0, up.stderr
        removed = catalog(engine)
        assert removed["labels"] == ["packed", "shipped", "lost", "returned"]
        assert removed["types"] == [ENUM]  # no type left behind
        assert removed["check"] and removed["check"][0][1]  # recreated, validated
        for key in ("view", "index", "rows", "default", "check"):
            assert removed[key] == before[key], key
        down = dbtools(root, ["downgrade"], env)
        assert down.returncode == 0, down.stderr
        assert catalog(engine) == before
    finally:
        engine.dispose()


def test_a_rename_is_a_rename_value_that_keeps_the_rows(tmp_path, database_url):
    root, env = grown(tmp_path, database_url)
    engine = schema.make_engine(database_url)
    try:
        insert_rows(engine, ["shipped", "packed"])
        before = catalog(engine)
        filenode = f"SELECT relfilenode FROM pg_class WHERE oid = '{TABLE}'::regclass"
        with engine.connect() as conn:
            file_before = conn.execute(text(filenode)).scalar()
        edit(root / "schema" / f"{TABLE}.py", '    shipped = "shipped"\n', '    sent = "sent"\n')
        made = make(root, "revision", env, m="Shipped parcels are sent")
        assert made.returncode == 0, made.stderr
        assert "renamed={'shipped': 'sent'}" in made.stderr, made.stderr  # the hint
        [path] = new_revisions(root, "shipped_parcels_are_sent")
        write_docstring(path, "A value renamed in the catalog only; no table is touched.")
        columns = f'columns=["{TABLE}.state"],\n'
        up, between, down = path.read_text().split(columns)  # upgrade, then downgrade
        path.write_text(
            f'{up}{columns}renamed={{"shipped": "sent"}},\n'
            f'{between}{columns}renamed={{"sent": "shipped"}},\n{down}'
        )
        assert make(root, "format", env).returncode == 0
        assert make(root, "generate", env).returncode == 0
        checked = make(root, "check", env)
        # Clients that still send the old value break: that finding stays, once a way.
        assert findings(checked.stdout) == ["renaming-object", "renaming-object"], checked.stdout

        assert dbtools(root, ["upgrade"], env).returncode == 0
        after = catalog(engine)
        assert after["labels"] == ["packed", "sent", "lost", "delivered"]
        assert [s for _i, s in after["rows"]] == ["sent", "packed"]
        assert after["index"] == before["index"]
        with engine.connect() as conn:
            assert conn.execute(text(filenode)).scalar() == file_before  # not rewritten
        assert dbtools(root, ["downgrade"], env).returncode == 0
        assert catalog(engine) == before
    finally:
        engine.dispose()


def new_revisions(root: Path, slug: str) -> list[Path]:
    return sorted((root / "migrations" / "versions").glob(f"*{slug}.py"))


RULED = f"{TABLE}_ruled"[:63]
CANNOT_CARRY = {
    "materialized-view": (
        f'op.execute("CREATE MATERIALIZED VIEW {MATVIEW} AS SELECT state FROM {TABLE}")',
        f'op.execute("DROP MATERIALIZED VIEW {MATVIEW}")',
        f"{MATVIEW} (a materialized view) reads enum {ENUM}, which this step cannot recreate",
    ),
    "view-with-a-rule": (
        f'op.execute("CREATE VIEW {RULED} AS SELECT id, state FROM {TABLE}")\n'
        f'op.execute("CREATE RULE no_insert AS ON INSERT TO {RULED} DO INSTEAD NOTHING")',
        f'op.execute("DROP VIEW {RULED}")',
        f"view {RULED} reads enum {ENUM} and has rules or triggers of its own, which this "
        "step cannot recreate",
    ),
}


@pytest.mark.parametrize("case", list(CANNOT_CARRY))
def test_what_a_rebuild_cannot_carry_refuses_before_anything_changes(case, tmp_path, database_url):
    up, down, expected = CANNOT_CARRY[case]
    root, env = grown(tmp_path, database_url)
    hand_revision(root, env, "Something reads parcels.", up, down)
    assert dbtools(root, ["upgrade"], env).returncode == 0
    engine = schema.make_engine(database_url)
    try:
        insert_rows(engine, ["packed"])
        before = catalog(engine)
        edit(root / "schema" / f"{TABLE}.py", '    delivered = "delivered"\n', "")
        # Said while the revision is written: its lock trace runs it on a scratch database.
        made = make(root, "revision", env, m="Nothing is delivered")
        assert made.returncode != 0
        assert expected in made.stderr, made.stderr
        [path] = new_revisions(root, "nothing_is_delivered")
        write_docstring(path, "A value removed; the type is rebuilt.")
        done = dbtools(root, ["upgrade"], env)
        assert done.returncode != 0
        [line] = [x for x in done.stderr.splitlines() if x.startswith("error: ")]
        assert expected in line and "rolled back" in line, done.stderr
        assert catalog(engine) == before
    finally:
        engine.dispose()


def test_a_type_that_holds_other_values_refuses_before_anything_changes(tmp_path, database_url):
    root, env = grown(tmp_path, database_url)
    engine = schema.make_engine(database_url)
    try:
        insert_rows(engine, ["packed", "shipped"])
        edit(root / "schema" / f"{TABLE}.py", '    delivered = "delivered"\n', "")
        revision(root, env, "Nothing is delivered", "A value removed; the type is rebuilt.")
        with engine.begin() as conn:  # someone added a value by hand
            conn.execute(text(f"ALTER TYPE {ENUM} ADD VALUE 'held'"))
        before = catalog(engine)
        done = dbtools(root, ["upgrade"], env)
        assert done.returncode != 0
        [line] = [x for x in done.stderr.splitlines() if x.startswith("error: ")]
        assert (
            f"enum type {ENUM} has the values packed, shipped, lost, delivered, held, not "
            "packed, shipped, lost, delivered as this step expects"
        ) in line, line
        assert catalog(engine) == before
    finally:
        engine.dispose()


def test_a_waiver_covers_one_statement_each():
    """Two waivers of one rule before two statements that break it cover both; a third
    waives nothing and says so; one covers only the first."""
    sql = [
        "-- Lint waiver: both go",
        "-- squawk-ignore ban-drop-column",
        "-- Lint waiver: both go",
        "-- squawk-ignore ban-drop-column",
        "ALTER TABLE a DROP COLUMN x;",
        "",
        "ALTER TABLE b DROP COLUMN y;",
    ]
    found = [Finding(4, 0, "ban-drop-column", "drop"), Finding(6, 0, "ban-drop-column", "drop")]

    def left(lines: list[str]) -> list[str]:
        shifted = len(lines) - len(sql)
        moved = [Finding(f.row + shifted, 0, f.rule, f.message) for f in found]
        return apply_waivers(SqlSource("x.upgrade.sql", "x", "\n".join(lines) + "\n"), moved)

    assert left(sql) == []
    [unused] = left(sql[:2] + sql)
    assert "waives nothing" in unused
    [kept] = left(sql[2:])
    assert kept.startswith("x:5:1: warning: ban-drop-column")
