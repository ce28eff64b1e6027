"""Autogenerate writes the downgrade in the safe form too: each operation of this
repository has its reverse, and autogenerate's downgrade is rewritten into safe forms too.

In a grown copy a team's table exists with rows; its model then gains an index. The
revision `make revision` writes builds the index concurrently, and its downgrade drops it
concurrently (not `op.drop_index`, which takes ACCESS EXCLUSIVE on the table). Applied
both ways on a database with rows, the index is there, then gone.
"""

import re

from alembic.operations import ops
from sqlalchemy import text

from dbtools.operations.constraints import (
    AddCheckNotValidOp,
    AddForeignKeyNotValidOp,
    AddUniqueUsingIndexOp,
    SetNotNullSafelyOp,
)
from dbtools.operations.indexes import CreateIndexConcurrentlyOp, DropIndexConcurrentlyOp
from tests import own_models, team
from tests.harness import clean_env
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools


def body(source: str, function: str) -> str:
    """The statements of `def upgrade()` or `def downgrade()`, without layout."""
    after = source.split(f"def {function}()", 1)[1]
    text_ = re.split(r"\ndef ", after, maxsplit=1)[0]
    return "".join(text_.split()).replace('"', "'").replace(",)", ")")


def test_an_index_added_to_an_existing_table_is_dropped_concurrently(server_url, engine, tmp_path):
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(server_url))
    team.add_model(root)
    first = own_models.make_revision(root, env, f"add {team.TABLE}")
    own_models.write_docstring(first, team.DOCSTRING)
    model = root / "schema" / f"{team.MODULE}.py"
    source = model.read_text()
    plain = 'BigInteger, server_default=text("1"), comment="How many."'
    assert plain in source
    model.write_text(source.replace(plain, plain.replace("BigInteger,", "BigInteger, index=True,")))

    revision = own_models.make_revision(root, env, f"index {team.TABLE} quantity")
    written = revision.read_text()
    index = f"ix_{team.TABLE}_quantity"
    assert f"op.create_index_concurrently(op.f('{index}'),'{team.TABLE}'" in body(
        written, "upgrade"
    )
    downgrade = body(written, "downgrade")
    assert f"op.drop_index_concurrently(op.f('{index}'),'{team.TABLE}')" in downgrade, downgrade
    assert "op.drop_index(" not in downgrade

    # Both ways on a database whose table holds rows.
    target = clean_env(DATABASE_URL=url_string(engine.url))
    up = dbtools(root, ["upgrade", own_models.revision_id(first)], target)
    assert up.returncode == 0, up.stderr
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {team.PARENT} (name, email) VALUES ('a', 'a@x')"))
        person = conn.execute(text(f"SELECT id FROM {team.PARENT}")).scalar()
        conn.execute(text(f"INSERT INTO {team.TABLE} (person_id) VALUES ({person}), ({person})"))
    assert dbtools(root, ["upgrade", "head"], target).returncode == 0
    exists = f"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{index}')"
    with engine.connect() as conn:
        assert conn.execute(text(exists)).scalar() is True
    # A concurrent drop runs outside a transaction, but destroys no data by its nature:
    # the downgrade needs no ALLOW_DATA_LOSS=1.
    down = dbtools(root, ["downgrade", "-1"], target)
    assert down.returncode == 0, down.stderr
    with engine.connect() as conn:
        assert conn.execute(text(exists)).first() is None
        assert conn.execute(text(f"SELECT count(*) FROM {team.TABLE}")).scalar() == 2


def test_each_operation_reverses_to_a_form_that_does_not_scan():
    build = CreateIndexConcurrentlyOp("ix_t_a", "t", ["a"], unique=True)
    dropped = build.reverse()
    assert isinstance(dropped, DropIndexConcurrentlyOp)
    assert dropped.reverse() is build  # and back: the same build
    assert isinstance(AddCheckNotValidOp("ck", "t", "a > 0").reverse(), ops.DropConstraintOp)
    foreign = AddForeignKeyNotValidOp("fk", "t", "u", ["u_id"], ["id"]).reverse()
    assert (foreign.constraint_type, foreign.table_name) == ("foreignkey", "t")
    unique = AddUniqueUsingIndexOp("uq", "t", ["a"]).reverse()
    assert unique.constraint_type == "unique"
    not_null = SetNotNullSafelyOp("t", "a").reverse()
    assert isinstance(not_null, ops.AlterColumnOp) and not_null.modify_nullable is True


class _Invoked:
    """Stands in for Alembic's `Operations` as far as `invoke` goes: keeps the operation."""

    def invoke(self, operation):
        self.operation = operation


def test_op_calls_reach_the_dataclass_extra_keywords_included():
    called = _Invoked()
    CreateIndexConcurrentlyOp.create_index_concurrently(
        called, "ix_t_a", "t", ("a",), unique=True, postgresql_where="a > 0"
    )
    built = called.operation
    assert (built.index_name, built.columns, built.unique) == ("ix_t_a", ["a"], True)
    assert built.kw == {"postgresql_where": "a > 0"}
    AddForeignKeyNotValidOp.add_foreign_key_not_valid(
        called, "fk", "t", "u", ["u_id"], ["id"], ondelete="CASCADE"
    )
    assert called.operation.kw == {"ondelete": "CASCADE"}
