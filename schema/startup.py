"""The start-up check: is the database at the revision this package was built for?

A service calls `require_revision(engine)` when it starts, so that a service deployed
before its migrations refuses to start with a clear message instead of failing on its
first query. `check_revision` gives the same answer as data, without raising.

The revisions come from `schema/_revision.py`, generated into the package, so the check
works in an installed package that has no migrations folder. It is imported when a check
runs, not with the package: `make generate` must work even while that file is broken
(say, by a merge conflict between two new revisions).
"""

from dataclasses import dataclass
from enum import Enum

from sqlalchemy import Connection, Engine, text


class RevisionState(Enum):
    AT_HEAD = "at head"
    BEHIND = "behind"  # an older revision of this chain: migrations still to run
    AHEAD = "ahead"  # a revision this package does not know: newer migrations ran
    UNVERSIONED = "unversioned"  # no version table, or an empty one: nothing applied


@dataclass(frozen=True)
class RevisionStatus:
    """Where the database stands against the head this package was built for."""

    state: RevisionState
    database: tuple[str, ...]  # what alembic_version holds (empty when unversioned)
    expected: str  # the head this package was built for
    pending: tuple[str, ...]  # revisions of this chain the database lacks, oldest first

    @property
    def at_head(self) -> bool:
        return self.state is RevisionState.AT_HEAD

    def describe(self) -> str:
        found = ", ".join(self.database) or "none"
        if self.state is RevisionState.AT_HEAD:
            return f"the database is at revision {self.expected}, as this package expects"
        if self.state is RevisionState.BEHIND:
            return (
                f"the database is at revision {found}, behind {self.expected} that this "
                f"package was built for; {len(self.pending)} revision(s) to apply: "
                f"{', '.join(self.pending)}. Run the migrations first"
            )
        if self.state is RevisionState.AHEAD:
            return (
                f"the database is at revision {found}, which this package (built for "
                f"{self.expected}) does not know: newer migrations have run"
            )
        return (
            f"the database has no Alembic revision (no migrations applied); this package "
            f"expects {self.expected}. Run the migrations first"
        )


class SchemaRevisionError(RuntimeError):
    """The database is not at a revision this service can run against."""

    def __init__(self, status: RevisionStatus) -> None:
        super().__init__(status.describe())
        self.status = status


_VERSION_TABLE = text("SELECT to_regclass('alembic_version') IS NOT NULL")
_VERSIONS = text("SELECT version_num FROM alembic_version ORDER BY version_num")


def check_revision(bind: Engine | Connection) -> RevisionStatus:
    """Compare the database's Alembic revision with the head this package was built for.

    Takes an engine (a connection is opened and closed) or a connection (used as it
    is; a transaction this call begins is rolled back, one already open is left alone).
    """
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return status_of(_read_versions(connection))
    began = not bind.in_transaction()
    try:
        return status_of(_read_versions(bind))
    finally:
        if began:
            bind.rollback()


def require_revision(bind: Engine | Connection, *, allow_ahead: bool = True) -> RevisionStatus:
    """`check_revision`, raising `SchemaRevisionError` unless the service can run.

    A database behind the head, or never migrated, is refused. One ahead is accepted by
    default: migrations are released before the services that use them and keep older
    services working (see docs/consuming.md), so a service restarted after a newer
    migration must still start. `allow_ahead=False` refuses that too.
    """
    status = check_revision(bind)
    if status.at_head or (status.state is RevisionState.AHEAD and allow_ahead):
        return status
    raise SchemaRevisionError(status)


def _read_versions(connection: Connection) -> tuple[str, ...]:
    # to_regclass instead of catching "relation does not exist": an error would abort
    # a transaction the caller may have handed in.
    if not connection.execute(_VERSION_TABLE).scalar_one():
        return ()
    return tuple(connection.execute(_VERSIONS).scalars())


def head_revision() -> str:
    """The head revision this package was built for."""
    from schema._revision import HEAD_REVISION

    return HEAD_REVISION


def status_of(database: tuple[str, ...]) -> RevisionStatus:
    """The status of a database whose version table holds `database`."""
    from schema._revision import HEAD_REVISION, REVISIONS

    if not database:
        return RevisionStatus(RevisionState.UNVERSIONED, (), HEAD_REVISION, REVISIONS)
    if any(rev not in REVISIONS for rev in database):
        return RevisionStatus(RevisionState.AHEAD, database, HEAD_REVISION, ())
    if HEAD_REVISION in database:
        return RevisionStatus(RevisionState.AT_HEAD, database, HEAD_REVISION, ())
    newest = max(REVISIONS.index(rev) for rev in database)
    pending = REVISIONS[newest + 1 :]
    return RevisionStatus(RevisionState.BEHIND, database, HEAD_REVISION, pending)
