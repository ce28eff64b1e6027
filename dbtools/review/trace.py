"""What each statement of a revision does to the tables, observed on a real server.

`traced(connection, run)` runs `run()` (an Alembic upgrade or downgrade of one revision
on `connection`) and records, for every statement the revision executes:

- the relation locks it took, with their modes, as `pg_locks` shows them for the
  migrating backend. Inside a transaction the locks stay until its end, so a second
  session (the observer) reads them right after each statement, and the statement's
  locks are those its transaction did not hold before it. A statement outside a
  transaction (Alembic's `autocommit_block()`: a concurrent index, a `VALIDATE`, a
  batch of a backfill) has released its locks by the time it returns; for it, before
  it starts, one probe session per table that exists holds `ACCESS EXCLUSIVE` on that
  table, so the statement's first lock on each table waits where the observer sees it
  (its mode, `granted = false`); the observer then ends that probe's transaction. Only
  these waits are recorded (a sample of its other locks, on an index it builds or drops,
  would depend on timing, and the file must not);
- the tables and indexes it rewrote: `pg_class.relfilenode` changed, read in the
  migrating session before and after the statement (it sees its own uncommitted
  catalog);
- the tables it read in full: the table's sequential-scan count grew
  (`pg_stat_get_numscans` plus the transaction's own `pg_stat_get_xact_numscans`);
- the waivers (`op.waive_lint`) the revision declared before it.

Statements of the run's own bookkeeping (the version table, the migration log), the
session's settings and the catalog reads of the tooling are left out, and so are locks on
the system catalogs and on relations that exist neither before nor after the statement
(the transient heap of a rewrite). Names, modes and rewrites depend only on the revision
and the schema: no oids, no timings.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import pglast
import psycopg2.extensions
from pglast import ast
from pglast.visitors import Visitor
from sqlalchemy import Connection, event

from dbtools.core.bookkeeping import LOG_SCHEMA, bookkeeping
from dbtools.core.errors import describe
from dbtools.operations.waivers import WAIVER_LOG
from dbtools.review.locks import blocks, mode_name

POLL_SECONDS = 0.002
_SESSION = ("SELECT", "WITH", "SET", "RESET", "SHOW")

# Every relation outside the system schemas: oid, file, shown name, kind, the table it
# belongs to (an index's table, or itself), and a table's sequential scans so far.
_RELATIONS = """
SELECT c.oid, c.relfilenode,
       CASE WHEN n.nspname = 'public' THEN quote_ident(c.relname)
            ELSE format('%I.%I', n.nspname, c.relname) END,
       c.relkind, coalesce(o.relname, c.relname), coalesce(on_.nspname, n.nspname),
       CASE WHEN c.relkind IN ('r', 'p', 'm')
            THEN pg_stat_get_numscans(c.oid) + pg_stat_get_xact_numscans(c.oid) END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class o ON o.oid = i.indrelid
LEFT JOIN pg_namespace on_ ON on_.oid = o.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
"""

# Every lock of the backend: its relation locks, and the transaction they belong to.
_LOCKS = "SELECT locktype, relation, mode, granted, virtualtransaction FROM pg_locks WHERE pid = %s"


class Relation(NamedTuple):  # a tuple: a snapshot makes one per relation, per statement
    oid: int
    filenode: int
    name: str
    kind: str  # pg_class.relkind
    bookkeeping: bool
    scans: int | None

    @property
    def is_table(self) -> bool:
        return self.kind in ("r", "p")


@dataclass(frozen=True)
class Lock:
    relation: str
    mode: str  # as SQL names it: ACCESS EXCLUSIVE, SHARE UPDATE EXCLUSIVE, ...
    # The statement created or dropped the relation: nobody else can use it meanwhile.
    new: bool = False

    @property
    def blocks(self) -> list[str]:
        return blocks(self.mode)


@dataclass(frozen=True)
class Waiver:
    rules: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Step:
    """One statement of the revision, and what it did to the relations."""

    sql: str
    transaction: int  # counted from 1 within the direction
    in_transaction: bool
    locks: tuple[Lock, ...]
    rewrites: tuple[str, ...]
    scans: tuple[str, ...]
    waivers: tuple[Waiver, ...] = ()

    @property
    def blocks(self) -> list[str]:
        """What the statement's locks on relations that exist before and after it make
        others wait for: reads, writes, both."""
        found = {what for lock in self.locks if not lock.new for what in lock.blocks}
        return [what for what in ("reads", "writes") if what in found]


@dataclass(frozen=True)
class DirectionTrace:
    """The statements of one direction, and the tables before and after it."""

    steps: tuple[Step, ...]
    tables_before: frozenset[str]
    tables_after: frozenset[str]
    error: str | None = None  # the direction failed here (after its last step)
    trailing_waivers: tuple[Waiver, ...] = ()  # declared after the last step

    @property
    def kept_tables(self) -> frozenset[str]:
        """Tables that existed before and remain after: the ones services are using."""
        return self.tables_before & self.tables_after


@dataclass
class _Raw:
    sql: str
    transaction: int
    in_transaction: bool
    locks: set[tuple[int, str]]
    before: dict[int, Relation]
    after: dict[int, Relation]
    waivers: list[Waiver]


def relations(dbapi_connection: Any, version_table: str) -> dict[int, Relation]:
    """The relations the session sees (its own uncommitted catalog included); the table
    named `version_table` and the log's schema are bookkeeping."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(_RELATIONS)
        rows = cursor.fetchall()
    return {
        oid: Relation(
            oid,
            filenode,
            name,
            kind,
            owner == version_table or owner_schema == LOG_SCHEMA,
            scans,
        )
        for oid, filenode, name, kind, owner, owner_schema, scans in rows
    }


# Sessions one probe opens at most to hold the tables (PostgreSQL's default
# max_connections is 100): with more tables, each session holds several, and a wait for
# any of them releases its session's tables together.
MAX_HOLDERS = 32


class _Probe:
    """While one statement outside a transaction runs: sessions holding every table in
    ACCESS EXCLUSIVE until the statement waits for one; the lock it waited for is kept."""

    def __init__(self, open_session: Callable[[], Any], pid: int, tables: dict[int, str]):
        self.pid = pid
        self.seen: set[tuple[int, str]] = set()
        self._observer = open_session()
        self._observer.autocommit = True
        self._holders: dict[int, Any] = {}  # table oid -> the session holding it
        oids = list(tables)
        for start in range(min(len(oids), MAX_HOLDERS)):
            group = oids[start::MAX_HOLDERS]
            holder = open_session()
            with holder.cursor() as cursor:
                names = ", ".join(tables[oid] for oid in group)
                cursor.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
            self._holders |= dict.fromkeys(group, holder)
        self._done = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        try:
            with self._observer.cursor() as cursor:
                while not self._done.is_set():
                    cursor.execute(_LOCKS, (self.pid,))
                    for locktype, relation, mode, granted, _vxid in cursor.fetchall():
                        # Only waits are recorded: what a sample catches depends on timing.
                        if locktype == "relation" and not granted and relation in self._holders:
                            self.seen.add((relation, mode))
                            self._release(relation)
                    time.sleep(POLL_SECONDS)
        except BaseException as exc:  # reported by stop(); the statement must not hang
            self._failed = exc
            self._release_all()

    def _release(self, oid: int) -> None:
        """End the session holding `oid`, and with it every table that session held."""
        holder = self._holders[oid]
        self._holders = {o: h for o, h in self._holders.items() if h is not holder}
        holder.rollback()
        holder.close()

    def _release_all(self) -> None:
        while self._holders:
            self._release(next(iter(self._holders)))

    def stop(self) -> set[tuple[int, str]]:
        self._done.set()
        self._thread.join()
        self._release_all()
        self._observer.close()
        if self._failed is not None:
            raise self._failed
        return self.seen


class _Recorder:
    """The connection events that record each statement."""

    def __init__(
        self, connection: Connection, open_session: Callable[[], Any], version_table: str
    ) -> None:
        self.connection = connection
        self.open_session = open_session
        self.version_table = version_table
        self.observer = open_session()
        self.observer.autocommit = True
        self.pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        connection.exec_driver_sql("SET stats_fetch_consistency = none")
        connection.commit()
        self.raw: list[_Raw] = []
        self.pending_waivers: list[Waiver] = []
        self._before: dict[int, Relation] = {}
        self._last_after: dict[int, Relation] | None = None  # in the open transaction
        self._probe: _Probe | None = None
        self._held: set[tuple[int, str]] = set()
        self._vxid: str | None = None
        self._transactions = 0

    def before(self, _conn: Any, cursor: Any, _statement: str, *_args: Any) -> None:
        dbapi = cursor.connection
        self._before = self._still_seen(dbapi) or relations(dbapi, self.version_table)
        if dbapi.autocommit:
            tables = {
                r.oid: r.name for r in self._before.values() if r.is_table and not r.bookkeeping
            }
            self._probe = _Probe(self.open_session, self.pid, tables)

    def after(self, _conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        dbapi = cursor.connection
        if self._probe is not None:
            locks, self._probe = self._probe.stop(), None
            self._transactions += 1
            self._vxid = None
            in_transaction = False
        else:
            with self.observer.cursor() as observer:
                observer.execute(_LOCKS, (self.pid,))
                rows = observer.fetchall()
            vxid = rows[0][4] if rows else None
            if vxid != self._vxid or vxid is None:
                self._transactions += 1
                self._held = set()
                self._vxid = vxid
            now = {(rel, mode) for kind, rel, mode, _granted, _v in rows if kind == "relation"}
            locks, self._held = now - self._held, self._held | now
            in_transaction = True
        after = relations(dbapi, self.version_table)
        self._last_after = after if in_transaction else None
        self.raw.append(
            _Raw(
                statement,
                self._transactions,
                in_transaction,
                locks,
                self._before,
                after,
                self.pending_waivers,
            )
        )
        self.pending_waivers = []

    def _still_seen(self, dbapi: Any) -> dict[int, Relation] | None:
        """The snapshot after the previous statement, when it still holds: taken in the
        transaction that is still open, the session idle in it since. A rollback the
        events do not see (the revision's own, on the DBAPI connection) would restore
        the catalog behind it; a statement outside a transaction reads its own. (Scan
        counts are no reason: the session's pending ones outlive its transactions.)"""
        idle_in_it = dbapi.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
        return self._last_after if idle_in_it and not dbapi.autocommit else None

    def stop_probe(self) -> None:
        if self._probe is not None:
            probe, self._probe = self._probe, None
            probe.stop()

    def close(self) -> None:
        self.stop_probe()
        self.observer.close()


class _WaiverLog(logging.Handler):
    """The waivers `op.waive_lint` logs while it runs online (it runs no SQL)."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__(logging.INFO)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == WAIVER_LOG and isinstance(record.args, tuple):
            rules, reason = record.args
            waiver = Waiver(tuple(str(rules).split(", ")), str(reason))
            self.recorder.pending_waivers.append(waiver)


@contextmanager
def _waivers_logged(recorder: _Recorder) -> Iterator[None]:
    logger = logging.getLogger("alembic.env")
    handler = _WaiverLog(recorder)
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def traced(connection: Connection, run: Callable[[], None]) -> DirectionTrace:
    """Run `run()` on `connection` (not in a transaction) and trace what it executes."""
    engine = connection.engine

    def open_session() -> Any:  # a DBAPI connection of its own, outside any pool
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        return engine.dialect.connect(*args, **kwargs)

    # Read once: every statement's snapshot marks the bookkeeping by it.
    version_table = bookkeeping().version_table
    start = relations(connection.connection.driver_connection, version_table)
    connection.commit()
    recorder = _Recorder(connection, open_session, version_table)
    event.listen(connection, "before_cursor_execute", recorder.before)
    event.listen(connection, "after_cursor_execute", recorder.after)
    error = None
    try:
        with _waivers_logged(recorder):
            run()
    except Exception as exc:  # the trace says where it failed; the gate reports it
        error = describe(exc, engine.url)
        connection.rollback()
    finally:
        event.remove(connection, "before_cursor_execute", recorder.before)
        event.remove(connection, "after_cursor_execute", recorder.after)
        recorder.close()
    end = relations(connection.connection.driver_connection, version_table)
    connection.commit()
    return DirectionTrace(
        tuple(_steps(recorder.raw)),
        frozenset(r.name for r in start.values() if r.is_table and not r.bookkeeping),
        frozenset(r.name for r in end.values() if r.is_table and not r.bookkeeping),
        error,
        tuple(recorder.pending_waivers),
    )


def _steps(raw: list[_Raw]) -> Iterator[Step]:
    """The revision's own statements, with what each did to the relations it touched."""
    carried: list[Waiver] = []
    numbering: dict[int, int] = {}
    for record in raw:
        known = {**record.before, **record.after}
        user = {oid: r for oid, r in known.items() if not r.bookkeeping}
        locks = sorted(
            {
                Lock(
                    user[oid].name,
                    mode_name(mode),
                    oid not in record.before or oid not in record.after,
                )
                for oid, mode in record.locks
                if oid in user
            },
            key=lambda lock: (lock.relation, lock.mode),
        )
        rewrites = sorted(
            user[oid].name
            for oid in user.keys() & record.before.keys() & record.after.keys()
            if record.before[oid].filenode != record.after[oid].filenode
        )
        scans = sorted(
            user[oid].name
            for oid in user.keys() & record.before.keys() & record.after.keys()
            if (record.after[oid].scans or 0) > (record.before[oid].scans or 0)
        )
        carried += record.waivers
        touched_bookkeeping = any(
            known[oid].bookkeeping for oid, _m in record.locks if oid in known
        )
        session = record.sql.lstrip().split(None, 1)[0].upper() in _SESSION
        if not (locks or rewrites or scans) and (session or touched_bookkeeping):
            continue
        if not (locks or rewrites or scans) and _names_bookkeeping(record.sql):
            continue
        number = numbering.setdefault(record.transaction, len(numbering) + 1)
        yield Step(
            " ".join(record.sql.split()),
            number,
            record.in_transaction,
            tuple(locks),
            tuple(rewrites),
            tuple(scans),
            tuple(carried),
        )
        carried = []


def _names_bookkeeping(sql: str) -> bool:
    """DDL of the bookkeeping that takes no relation lock (`CREATE SCHEMA IF NOT EXISTS` of
    the log, `CREATE TABLE IF NOT EXISTS` of a table that exists): every object the
    statement names, read with PostgreSQL's own parser, is bookkeeping."""
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError:
        return False
    named = _Named()
    for statement in statements:
        named(statement)
    names = bookkeeping()
    return bool(named.objects) and all(
        names.is_bookkeeping(kind, name, where) for kind, where, name in named.objects
    )


class _Named(Visitor):
    """The relations and schemas a statement names, as (kind, schema, name)."""

    def __init__(self) -> None:
        self.objects: list[tuple[str, str | None, str]] = []

    def visit_RangeVar(self, _ancestors: object, node: ast.RangeVar) -> None:
        self.objects.append(("table", node.schemaname, node.relname))

    def visit_CreateSchemaStmt(self, _ancestors: object, node: ast.CreateSchemaStmt) -> None:
        self.objects.append(("schema", None, node.schemaname))
