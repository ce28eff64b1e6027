"""A column renamed in the models: `make revision` hints at the rename, and following the
hint leaves no drift: the index and the constraints the naming convention names after
the column are renamed with it (`ALTER INDEX ... RENAME`, `RENAME CONSTRAINT`), both ways.

The copy grows a table of its own (never the example's)."""

import re

from sqlalchemy import text

import schema
from tests.harness import clean_env, make
from tests.own_models import add_module, drift_lines, edit, free_table, revision, write_docstring
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools

TABLE = free_table("widgets")
CLASS = "Widget"
OLD, NEW = "maker_id", "made_by_id"
MODEL = f'''"""The `{TABLE}` table."""

from sqlalchemy import BigInteger, ForeignKey, Identity, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class {CLASS}(Base):
    __tablename__ = "{TABLE}"
    __table_args__ = (UniqueConstraint("{OLD}"), {{"comment": "Widgets and who made them."}})

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
    {OLD}: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("{TABLE}.id"), index=True, comment="The widget that made it."
    )
'''
HINT = re.compile(
    r"column \S+ -> \S+: looks like a rename; write (op\.rename_column\(.*\)) instead"
)
NAMES = [
    r"(ALTER INDEX )(\S+)( RENAME TO )(\S+)",
    r"(ALTER TABLE \S+ RENAME CONSTRAINT )(\S+)( TO )(\S+)",
]
NAMES = (f"ix_{TABLE}_{{}}", f"uq_{TABLE}_{{}}", f"fk_{TABLE}_{{}}_{TABLE}")


def swapped(pairs: str) -> str:
    """`'a': 'b', 'c': 'd'` as `'b': 'a', 'd': 'c'`."""
    items = [item.split(": ") for item in pairs.split(", ") if item]
    return ", ".join(f"{new}: {old}" for old, new in items)


def names(engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {
            "columns": list(
                conn.execute(
                    text(
                        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) "
                        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
                    ),
                    {"t": TABLE},
                ).scalars()
            ),
            "indexes": list(
                conn.execute(
                    text(
                        "SELECT indexrelid::regclass::text FROM pg_index "
                        "WHERE indrelid = to_regclass(:t) ORDER BY 1"
                    ),
                    {"t": TABLE},
                ).scalars()
            ),
            "constraints": list(
                conn.execute(
                    text(
                        "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(:t) "
                        "ORDER BY 1"
                    ),
                    {"t": TABLE},
                ).scalars()
            ),
            "rows": [tuple(r) for r in conn.execute(text(f"SELECT * FROM {TABLE} ORDER BY id"))],
        }


def test_following_the_rename_hint_leaves_no_drift(tmp_path, database_url):
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(database_url))
    add_module(root, TABLE, [CLASS], MODEL)
    revision(root, env, "Create widgets", "A new table; nothing in use is locked.")
    assert dbtools(root, ["upgrade"], env).returncode == 0
    engine = schema.make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO {TABLE} ({OLD}) VALUES (NULL)"))
            conn.execute(text(f"INSERT INTO {TABLE} ({OLD}) SELECT min(id) FROM {TABLE}"))
        before = names(engine)
        assert all(n.format(OLD) in before["indexes"] + before["constraints"] for n in NAMES)

        model = root / "schema" / f"{TABLE}.py"
        edit(model, f'UniqueConstraint("{OLD}")', f'UniqueConstraint("{NEW}")')
        edit(model, f"    {OLD}: Mapped", f"    {NEW}: Mapped")
        made = make(root, "revision", env, m="Made by")
        assert made.returncode == 0, made.stderr
        [call] = HINT.findall(made.stderr)
        for name in NAMES:  # the index, the unique and the foreign key
            assert f"{name.format(OLD)!r}: {name.format(NEW)!r}" in call, call

        # The revision as the hint says; its downgrade renames back.
        [path] = sorted((root / "migrations" / "versions").glob("*_made_by.py"))
        write_docstring(path, "A column renamed, with its index and constraints.")
        source = path.read_text()
        back = re.sub(r"\{([^}]*)\}", lambda m: "{" + swapped(m.group(1)) + "}", call)
        back = back.replace(f"{OLD!r}, {NEW!r}", f"{NEW!r}, {OLD!r}", 1)
        source = source[: source.index("def upgrade() -> None:")] + (
            f"def upgrade() -> None:\n    {call}\n\n\ndef downgrade() -> None:\n    {back}\n"
        )
        path.write_text(source)
        assert make(root, "format", env).returncode == 0
        assert make(root, "generate", env).returncode == 0
        checked = make(root, "check", env)
        assert drift_lines(checked.stdout) == [], checked.stdout
        # What breaks clients is said once a way: the column's rename, not each name's.
        rules = re.findall(r"warning: (\S+) ", checked.stdout)
        assert rules == ["renaming-column", "renaming-column"], checked.stdout

        assert dbtools(root, ["upgrade"], env).returncode == 0
        after = names(engine)
        assert after["columns"] == ["id", NEW]
        assert all(n.format(NEW) in after["indexes"] + after["constraints"] for n in NAMES)
        assert after["rows"] == before["rows"]
        assert dbtools(root, ["downgrade"], env).returncode == 0
        assert names(engine) == before
    finally:
        engine.dispose()
