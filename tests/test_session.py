"""The engine and session helpers services use."""

import pytest
from sqlalchemy import BigInteger, Identity, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import schema
from tests.pg import url_string


class Base(DeclarativeBase):
    """A model of the test's own: the helpers are generic, the example's model is not."""


class Note(Base):
    __tablename__ = "session_notes"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String)
    age: Mapped[int | None] = mapped_column(BigInteger)


@pytest.fixture
def migrated_url(database_url):
    engine = schema.make_engine(url_string(database_url))
    Base.metadata.create_all(engine)
    engine.dispose()
    return database_url


def test_session_scope_commits_when_the_block_ends(migrated_url):
    engine = schema.make_engine(url_string(migrated_url))
    factory = schema.make_sessionmaker(engine)

    with schema.session_scope(factory) as session:
        session.add(Note(name="Ada", age=36))

    with schema.session_scope(factory) as session:
        stored = session.scalars(select(Note)).one()
        assert (stored.id, stored.name, stored.age) == (1, "Ada", 36)
    engine.dispose()


def test_session_scope_rolls_back_when_the_block_raises(migrated_url):
    engine = schema.make_engine(migrated_url)
    factory = schema.make_sessionmaker(engine)

    with pytest.raises(RuntimeError), schema.session_scope(factory) as session:
        session.add(Note(name="Grace"))
        session.flush()
        raise RuntimeError("boom")

    with schema.session_scope(factory) as session:
        assert session.scalars(select(Note)).all() == []
    engine.dispose()
