"""Comments and schema docs: every table and column is described, in the models, in the
database the migrations build (what `psql \\d+` shows) and in docs/schema.md."""

from sqlalchemy import BigInteger, Column, Enum, ForeignKey, Integer, MetaData, String, Table, text
from sqlalchemy.engine import URL

import schema
from dbtools.consume import schema_docs
from dbtools.core.search_path import MODEL_SCHEMAS
from tests import own_table
from tests.migrate import migrate_to


def model_comments() -> dict[tuple[str, str, str], str | None]:
    """(schema, table, column or '') -> comment, from the models."""
    found = {}
    for table in schema.metadata.tables.values():
        where = table.schema or MODEL_SCHEMAS[0]  # unqualified: the default schema
        found[(where, table.name, "")] = table.comment
        found |= {(where, table.name, c.name): c.comment for c in table.columns}
    return found


def test_every_table_and_column_of_the_models_has_a_comment():
    missing = [
        ".".join(part for part in key if part)
        for key, comment in model_comments().items()
        if not comment
    ]
    assert missing == [], f"add comment= to: {', '.join(missing)}"


def test_the_migrations_put_the_comments_in_the_database(database_url: URL):
    migrate_to(database_url, "head")
    engine = schema.make_engine(database_url)
    with engine.connect() as conn:
        # Every schema the models use (a revision may keep tables in others).
        rows = conn.execute(
            text(
                "SELECT n.nspname, c.relname, coalesce(a.attname, ''), d.description "
                "FROM pg_description d JOIN pg_class c ON c.oid = d.objoid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid "
                "WHERE d.classoid = 'pg_class'::regclass AND n.nspname = ANY(:schemas)"
            ),
            {"schemas": list(MODEL_SCHEMAS)},
        ).all()
    engine.dispose()
    assert {(n, t, c): d for n, t, c, d in rows} == model_comments()


def test_the_docs_show_each_column_with_its_comment_and_the_diagram():
    text_ = schema_docs.render()
    assert "```mermaid\nerDiagram\n" in text_
    for (_, table, column), comment in model_comments().items():
        assert comment in text_, f"{table}.{column}"


def test_unique_constraints_and_indexes_are_shown_by_their_names():
    # The test's own table, as tests/own_table.py's model defines it.
    metadata = MetaData(naming_convention=schema.metadata.naming_convention)
    Table(
        own_table.TABLE,
        metadata,
        Column("id", BigInteger, primary_key=True),
        Column("name", String, index=True),
        Column("email", String, unique=True, comment="Address."),
    )
    text_ = schema_docs.render(metadata)
    assert f"| `email` | varchar | yes |  | unique `{own_table.UNIQUE}` | Address. |" in text_
    assert f"- `{own_table.INDEX}`: btree (`name`)" in text_


def test_foreign_keys_become_relationships_in_the_diagram():
    metadata = MetaData(naming_convention=schema.metadata.naming_convention)
    Table("teams", metadata, Column("id", Integer, primary_key=True, comment="Key."))
    Table(
        "members",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("team_id", ForeignKey("teams.id"), nullable=False),
        Column("nick", String(20), server_default=text("'anon'")),
    )
    text_ = schema_docs.render(metadata)
    assert '    teams ||--o{ members : "fk_members_team_id_teams"' in text_
    assert "integer team_id FK" in text_
    assert "references `teams.id` (`fk_members_team_id_teams`)" in text_
    assert "| `nick` | varchar(20) | yes | `'anon'` |" in text_


def test_enum_values_and_foreign_key_actions_are_shown():
    metadata = MetaData(naming_convention=schema.metadata.naming_convention)
    Table("teams", metadata, Column("id", Integer, primary_key=True))
    Table(
        "members",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        Column("role", Enum("owner", "guest", name="member_role")),
    )
    text_ = schema_docs.render(metadata)
    assert "## Enum types\n\n| type | values, in order |" in text_
    assert "| `member_role` | `owner`, `guest` |" in text_
    assert "| `role` | enum `member_role` (`owner`, `guest`) | yes |" in text_
    assert "references `teams.id` (`fk_members_team_id_teams`, on delete cascade)" in text_
    assert "        enum_member_role role" in text_  # the diagram's attribute type
