"""Tracing several revisions applies the chain once: the database at each revision's
parent is a copy of one that climbs the chain (dbtools/review/revision_trace.py).

What a trace through the climbing database records is what a trace from an empty
database records; the climbing database applied each revision once, in order; a revision
traced out of order (below where it stands) rebuilds it, with the same result; a new
revision's starts as a copy of the kept database of the released chain and applies
nothing released; nothing is left on the server afterwards.
"""

import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

import schema
from dbtools.core.chain import revisions
from dbtools.review import released_template, revision_trace
from dbtools.review.revision_trace import ParentStates, as_data


def from_empty(script, server: URL) -> dict:
    return as_data(script, revision_trace._trace(script, server))


def through(parents: ParentStates, script, server: URL) -> dict:
    return as_data(script, revision_trace._trace(script, server, at_parent=parents.at_parent))


def logged_upgrades(url: URL) -> list[str]:
    return [revision for revision, _ in logged(url)]


def logged(url: URL) -> list[tuple[str, datetime.datetime]]:
    engine = schema.make_engine(url)
    try:
        with engine.connect() as connection:
            log = connection.execute(sa.text("SELECT to_regclass('migration_audit.migration_log')"))
            if log.scalar() is None:
                return []  # nothing was ever applied to it
            rows = connection.execute(
                sa.text(
                    "SELECT revision, applied_at FROM migration_audit.migration_log "
                    "WHERE direction = 'upgrade' ORDER BY id"
                )
            )
            return [(row.revision, row.applied_at) for row in rows]
    finally:
        engine.dispose()


def database_exists(server: URL, name: str) -> bool:
    engine = schema.make_engine(server)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            return found.first() is not None
    finally:
        engine.dispose()


def test_traces_through_the_climbing_database_are_the_traces_from_empty(server_url: URL):
    chain = revisions()
    first, head = chain[0], chain[-1]
    # The first, the second and the head: the climb to the head's parent covers every
    # revision between them, and the test costs three traces however long the chain.
    with revision_trace.parent_states() as parents:
        traced = {first.revision: through(parents, first, server_url)}
        ladder = parents.ladder
        assert ladder is not None
        traced |= {script.revision: through(parents, script, server_url) for script in chain[1:2]}
        traced[head.revision] = through(parents, head, server_url)
        # It climbed: one database throughout, each revision below the head applied to it
        # once, in the chain's order.
        assert parents.ladder == ladder
        assert logged_upgrades(ladder) == [s.revision for s in chain[:-1]]
        assert parents.at == head.down_revision

        # A revision below where it stands: rebuilt from empty, the same trace.
        again = through(parents, first, server_url)
        assert parents.at is None  # the first revision's parent is the empty database
        assert logged_upgrades(parents.ladder) == []
    assert again == traced[first.revision] == from_empty(first, server_url)
    assert traced[head.revision] == from_empty(head, server_url)
    assert not database_exists(server_url, str(ladder.database))


def test_a_climb_that_fails_leaves_no_database_behind(server_url: URL):
    chain = revisions()
    if len(chain) < 2:
        pytest.skip("the climb needs a revision above the first")
    parents = ParentStates()
    through(parents, chain[0], server_url)  # the ladder exists, still empty
    ladder = parents.ladder
    assert ladder is not None
    # The next trace must climb: a database that refuses connections fails it.
    admin = schema.make_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(
                sa.text(f'ALTER DATABASE "{ladder.database}" WITH ALLOW_CONNECTIONS false')
            )
    finally:
        admin.dispose()
    with pytest.raises(sa.exc.OperationalError):
        through(parents, chain[1], server_url)
    assert parents.ladder is None and parents.at is None  # the next trace rebuilds it
    assert not database_exists(server_url, str(ladder.database))


def test_a_new_revision_is_traced_on_a_copy_of_the_kept_release(
    server_url: URL, monkeypatch: pytest.MonkeyPatch
):
    chain = revisions()
    if len(chain) < 2:
        pytest.skip("needs a released revision below the head")
    head = chain[-1]
    # The head as a new revision: everything below it released.
    monkeypatch.setattr(released_template, "released_ids", lambda: {s.revision for s in chain[:-1]})
    kept = released_template.kept_release(server_url)  # built now, if not there yet
    assert kept is not None and kept.tip == head.down_revision

    started = datetime.datetime.now(datetime.UTC)
    with revision_trace.parent_states() as parents:
        traced = through(parents, head, server_url)
        assert parents.ladder is not None and parents.at == kept.tip
        rows = logged(parents.ladder)
    # Its log rows were written when the kept database was built: copied, none applied.
    assert [revision for revision, _ in rows] == [s.revision for s in chain[:-1]]
    assert all(applied < started for _, applied in rows)
    assert traced == from_empty(head, server_url)
