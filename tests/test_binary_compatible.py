"""A `varchar` widened (or made `text`) is written as safe: PostgreSQL rewrites nothing for
it, so the revision carries a waiver saying why and `make check` passes; the table keeps
its file (`relfilenode`). A narrowed `varchar` is still the linter's to flag."""

from sqlalchemy import text

import schema
from tests.harness import clean_env, make
from tests.own_models import add_module, edit, free_table, revision
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools

NOTES = free_table("notes")
CLS = "".join(p.title() for p in NOTES.split("_"))
MODEL = f'''"""The `{NOTES}` table: short notes."""

from sqlalchemy import BigInteger, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class {CLS}(Base):
    __tablename__ = "{NOTES}"
    __table_args__ = {{"comment": "Short notes."}}

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, comment="Surrogate key."
    )
    title: Mapped[str] = mapped_column(String(20), comment="A title.")
'''


def relfilenode(url) -> int:
    engine = schema.make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT relfilenode FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": NOTES},
            ).scalar_one()
    finally:
        engine.dispose()


def test_widening_a_varchar_is_known_safe_and_narrowing_is_not(tmp_path, database_url):
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(database_url))
    add_module(root, NOTES, [CLS], MODEL)
    revision(root, env, f"Create {NOTES}", "A new table.")
    assert dbtools(root, ["upgrade"], env).returncode == 0
    before = relfilenode(database_url)

    model = root / "schema" / f"{NOTES}.py"
    edit(model, "String(20)", "String(50)")
    path = revision(root, env, "Widen the title", "Widen the title: no rewrite.")
    assert 'op.waive_lint(\n        "changing-column-type",' in path.read_text() or (
        'op.waive_lint("changing-column-type"' in path.read_text()
    )
    # Its downgrade narrows the column back: a rewrite, which the lint and the lock trace
    # name; the reviewer accepts it for a rollback with a waiver of their own.
    flagged = make(root, "check", env)
    assert flagged.returncode != 0
    problems = [line for line in flagged.stdout.splitlines() if line.startswith("  - ")]
    assert problems and all(".downgrade.sql" in p or "downgrade statement" in p for p in problems)
    source = path.read_text()
    head, tail = source.split("def downgrade() -> None:\n", 1)
    waiver = (
        '    op.waive_lint(["changing-column-type", "trace-blocks-writes", '
        '"trace-rewrites-table"], reason="a rollback may rewrite the table")\n'
    )
    path.write_text(head + "def downgrade() -> None:\n" + waiver + tail)
    assert make(root, "format", env).returncode == 0
    assert make(root, "generate", env).returncode == 0
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert dbtools(root, ["upgrade"], env).returncode == 0
    assert relfilenode(database_url) == before  # observed: no rewrite

    edit(model, "String(50)", "String(10)")
    path = revision(root, env, "Narrow the title", "Narrow the title.")
    upgrade_part = path.read_text().split("def downgrade", 1)[0]
    assert "waive_lint" not in upgrade_part  # its downgrade widens back: waived there
    narrowed = make(root, "check", env)
    assert narrowed.returncode != 0
    assert "changing-column-type" in narrowed.stdout
