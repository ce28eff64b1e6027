"""Each revision's lock trace, both directions: observed on a scratch database, committed
beside its SQL, checked by `make check`.

For a revision, a scratch database is migrated to its parent, a few synthetic rows go
into every table (dbtools/review/seed.py), and the revision's upgrade is traced
statement by statement (dbtools/review/trace.py); then the tables still empty get rows
and the downgrade is traced the same way. The result is committed as
`migrations/sql/<revision file stem>.trace.json`: per direction, per statement, the SQL,
the locks (relation and mode) and what they block, the relations rewritten and the
tables read in full, the waivers before it, and the gate's findings
(dbtools/review/trace_gate.py). No timings, no oids: `make generate` writes the same
text on any server of a supported version.

Tracing needs a PostgreSQL server: the one DATABASE_URL names (scratch databases are
created and dropped there) or else the development server.

When `make generate` or `make check` traces revisions, the database at each one's parent
is a copy (`CREATE DATABASE ... TEMPLATE`) of one database that climbs the chain as they
are traced in order (`ParentStates`), starting from the kept database of the released
chain where it can: a new revision's trace applies only the unreleased revisions below
it, and re-tracing every one (after a change to the tracer) applies the chain once, not
once per revision.
"""

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from dbtools import devserver
from dbtools.core import search_path
from dbtools.core.artefacts import Artefact
from dbtools.core.chain import by_id, revisions, script_directory
from dbtools.core.errors import UserError, describe
from dbtools.core.options import RunOptions, run_config
from dbtools.core.paths import ALEMBIC_INI, REPO_ROOT
from dbtools.core.scratch import scratch_database
from dbtools.core.settings import Env
from dbtools.review import released_template, trace_gate
from dbtools.review.fingerprints import Fingerprints
from dbtools.review.revision_sql import SQL_DIR
from dbtools.review.seed import seed
from dbtools.review.trace import DirectionTrace, Step, traced
from schema.session import make_engine
from schema.testing import create_database, drop_database

DIRECTIONS = ("upgrade", "downgrade")
SUFFIX = ".trace.json"

Traces = dict[str, DirectionTrace]  # by direction

_cache: dict[tuple[str, ...], Traces] = {}


def trace_path(script: Script) -> Path:
    return SQL_DIR / f"{Path(script.path).stem}{SUFFIX}"


def _config(connection: Connection, ini: Path = ALEMBIC_INI) -> Any:
    # No settings: the default timeouts, whatever the environment says; no hooks: the
    # models stay unloaded.
    options = RunOptions(env={}, connection=connection, configure_logging=False)
    return run_config(options, ini)


class ParentStates:
    """Databases at a revision's parent, for tracing several revisions in one run.

    Each is a copy of one database (the ladder) that is upgraded to the parent first: as
    revisions are traced in chain order, it climbs one revision at a time. It starts as a
    copy of the kept database of the released chain (dbtools/review/released_template.py)
    when the parent is at or above the released tip, as a new revision's is, so tracing it
    applies only the unreleased revisions below it; otherwise from empty. A parent that is
    not above where the ladder stands (revisions traced out of order) starts it again.
    Nothing is made until the first trace; `close()` drops the ladder.
    """

    def __init__(self) -> None:
        self.ladder: URL | None = None  # the climbing database
        self.server: URL | None = None  # the server it was made on, as named by the caller
        self.at: str | None = None  # the revision it is at; None: empty

    @contextmanager
    def at_parent(self, script: Script, server: URL) -> Iterator[Connection]:
        """A scratch database on `server` at `script`'s parent, dropped afterwards."""
        if not isinstance(script.down_revision, str | None):  # a merge: built from empty
            with _at_parent(script, server, ALEMBIC_INI) as connection:
                yield connection
            return
        self._climb(server, script)
        assert self.ladder is not None
        with scratch_database(server, template=self.ladder.database) as connection:
            yield connection

    def close(self) -> None:
        if self.ladder is not None:
            drop_database(self.ladder)
        self.ladder, self.server, self.at = None, None, None

    def _climb(self, server: URL, script: Script) -> None:
        parent = script.down_revision
        if server != self.server or (self.at is not None and self.at not in _ancestors(script)):
            self.close()
        if self.ladder is None:
            self._start(server, script)
        if parent is not None and parent != self.at:
            engine = make_engine(
                self.ladder, poolclass=NullPool, connect_args=search_path.connect_args(self.ladder)
            )
            try:
                with engine.connect() as connection:
                    command.upgrade(_config(connection), str(parent))
                    connection.commit()
            except BaseException:
                engine.dispose()
                self.close()  # where it stopped is not known here: the next one rebuilds
                raise
            engine.dispose()  # a template must have no session left
            self.at = parent

    def _start(self, server: URL, script: Script) -> None:
        """The ladder: a copy of the released chain's kept database when `script`'s parent
        is at or above its tip, else an empty database."""
        # Only when it serves: a trace below the tip never builds the kept database.
        tip = released_template.released_tip(script_directory(), released_template.released_ids())
        start = released_template.kept_release(server) if tip in _ancestors(script) else None
        template = start.name if start else None
        self.ladder = create_database(server, prefix="scratch", template=template)
        self.at, self.server = (start.tip if start else None), server


def _ancestors(script: Script) -> set[str]:
    """The revisions below `script` (its parent, the parent's parent, ...)."""
    chain = by_id()
    found: set[str] = set()
    down = script.down_revision
    while isinstance(down, str) and down not in found:
        found.add(down)
        down = chain[down].down_revision if down in chain else None
    return found


def trace_revision(script: Script, server: URL, parents: ParentStates | None = None) -> Traces:
    """Both directions of `script`, traced on a scratch database on `server` (cached per
    process for the same revision files and server); with `parents`, the database at its
    parent is copied from their ladder."""
    key = (*_chain_key(script), server.render_as_string(hide_password=True))
    if key not in _cache:
        try:
            at_parent = parents.at_parent if parents is not None else None
            _cache[key] = _trace(script, server, at_parent=at_parent)
        except (SQLAlchemyError, CommandError) as exc:
            raise UserError(
                f"cannot trace revision {script.revision}: {describe(exc, server)}"
            ) from None
    return _cache[key]


def trace_in(root: Path, revision: str, server: URL, parent_copy: str | None = None) -> Traces:
    """Both directions of `revision` of the repository (or copy) at `root`, traced now:
    what the stall benchmark compares its measurements with. With `parent_copy` (a
    database on `server` at the revision's parent, no session on it), the trace starts
    from a copy of it rather than applying the chain from empty."""
    script = ScriptDirectory.from_config(Config(str(root / "alembic.ini"))).get_revision(revision)
    if script is None:
        raise UserError(f"unknown revision {revision}")
    copied = partial(_copy_of, template=parent_copy) if parent_copy else None
    return _trace(script, server, root / "alembic.ini", at_parent=copied)


AtParent = Callable[[Script, URL], AbstractContextManager[Connection]]


@contextmanager
def _at_parent(script: Script, server: URL, ini: Path) -> Iterator[Connection]:
    """A scratch database on `server`, migrated from empty to `script`'s parent."""
    with scratch_database(server) as connection:
        if script.down_revision:
            command.upgrade(_config(connection, ini), str(script.down_revision))
            connection.commit()
        yield connection


@contextmanager
def _copy_of(_script: Script, server: URL, template: str) -> Iterator[Connection]:
    """A scratch database on `server`, a copy of `template` (already at the parent)."""
    with scratch_database(server, template=template) as connection:
        yield connection


def _trace(
    script: Script, server: URL, ini: Path = ALEMBIC_INI, at_parent: AtParent | None = None
) -> Traces:
    """Both directions of `script`, on the database `at_parent` makes (by default, one
    migrated from empty to the parent)."""
    parent = script.down_revision
    at_parent = at_parent or partial(_at_parent, ini=ini)
    with at_parent(script, server) as connection:
        seed(connection)
        up = traced(connection, lambda: command.upgrade(_config(connection, ini), script.revision))
        if up.error is not None:
            # Nothing to revert: the downgrade is traced once the upgrade applies.
            return {"upgrade": up, "downgrade": DirectionTrace((), frozenset(), frozenset())}
        seed(connection, only_empty=True)
        down = traced(
            connection,
            lambda: command.downgrade(_config(connection, ini), str(parent or "base")),
        )
    return {"upgrade": up, "downgrade": down}


def _chain_key(script: Script) -> tuple[str, ...]:
    """The revision and the text of every revision file up to it."""
    files = []
    for each in revisions():
        files.append(hashlib.sha256(Path(each.path).read_bytes()).hexdigest())
        if each.revision == script.revision:
            break
    return (script.revision, *files)


def as_data(script: Script, traces: Traces) -> dict[str, Any]:
    """The committed document: per direction, the statements and the findings."""
    return {
        "revision": script.revision,
        "message": " ".join((script.doc or "").split()),
        **{direction: _direction(traces[direction]) for direction in DIRECTIONS},
    }


def _direction(trace: DirectionTrace) -> dict[str, Any]:
    return {
        "tables_in_use": sorted(trace.kept_tables),
        **({"error": trace.error} if trace.error else {}),
        "blocks_writes": trace_gate.trace_blocks_writes(trace),
        "statements": [_statement(step) for step in trace.steps],
        "findings": [
            {
                "rule": f.rule,
                "statement": f.statement,
                "message": f.message,
                **({"waived": f.waived_because} if f.waived else {}),
                **({"unused_waiver": True} if f.unused_waiver else {}),
            }
            for f in trace_gate.observed(trace)
        ],
    }


def _statement(step: Step) -> dict[str, Any]:
    return {
        "sql": step.sql,
        "transaction": step.transaction,
        "in_transaction": step.in_transaction,
        "locks": [{"relation": lock.relation, "mode": lock.mode} for lock in step.locks],
        "blocks": step.blocks,
        "rewrites": list(step.rewrites),
        "scans": list(step.scans),
        **(
            {"waivers": [{"rules": list(w.rules), "reason": w.reason} for w in step.waivers]}
            if step.waivers
            else {}
        ),
    }


def render(script: Script, server: URL, parents: ParentStates | None = None) -> str:
    return dumps(as_data(script, trace_revision(script, server, parents))) + "\n"


def dumps(value: Any, indent: str = "") -> str:
    """JSON, indented, with each statement and finding on a line of its own (a diff then
    shows which statement's locks changed)."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        items = [f"{inner}{json.dumps(v, ensure_ascii=False)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def artefacts(
    env: Env, fingerprints: Fingerprints | None = None, parents: ParentStates | None = None
) -> list[Artefact]:
    """Each revision's trace file, traced on the server `env` names when rendered (the
    parents' databases from `parents`, if given); one whose fingerprint holds (its
    revision and the tracer unchanged since it was written,
    dbtools/review/fingerprints.py) is known fresh without tracing."""
    fingerprints = fingerprints or Fingerprints.now()
    return [
        Artefact(trace_path(script), _renderer(script, env, parents), _fresh(fingerprints, script))
        for script in revisions()
    ]


def files() -> list[tuple[Path, Path]]:
    """(committed trace path, revision file) for each revision."""
    return [(trace_path(script), Path(script.path)) for script in revisions()]


def _fresh(fingerprints: Fingerprints, script: Script) -> Callable[[], bool]:
    return lambda: fingerprints.holds(trace_path(script), Path(script.path))


def _renderer(script: Script, env: Env, parents: ParentStates | None) -> Callable[[], str]:
    return lambda: render(script, devserver.database_url(env), parents)


def orphans() -> list[Path]:
    """Trace files whose revision no longer exists."""
    expected = {trace_path(s) for s in revisions()}
    found = {p.relative_to(REPO_ROOT) for p in (REPO_ROOT / SQL_DIR).glob(f"*{SUFFIX}")}
    return sorted(found - expected)


def problems(
    server: URL,
    text_says: Callable[[str], list[str]] | None = None,
    fingerprints: Fingerprints | None = None,
) -> list[str]:
    """The gate: every unwaived finding of every revision's trace, one line each; with
    `text_says` (the text linter's rules flagging a statement), each says whether the
    text showed it too. A revision whose committed trace still holds is read from that
    file, not traced again: the cost follows what changed, not the length of the chain."""
    fingerprints = fingerprints or Fingerprints.now()
    lines = []
    for script in revisions():
        if fingerprints.holds(trace_path(script), Path(script.path)):
            found = committed_findings(script)
        else:
            try:
                found = traced_findings(script, server)
            except UserError as exc:
                lines.append(f"{trace_path(script)}: {exc}")
                continue
        for direction, number, sql, rule, message in found:
            line = f"{trace_path(script)}: {direction} statement {number}"
            if sql is not None:
                line += f" (`{sql if len(sql) <= 80 else sql[:77] + '...'}`)"
            line += f": {rule}: {message}"
            if text_says and sql is not None:
                rules = text_says(sql)
                line += (
                    f" (Squawk flags it too: {', '.join(rules)})"
                    if rules
                    else " (Squawk does not flag it from the text: the trace wins)"
                )
            lines.append(line)
    return lines


# (direction, statement number, its SQL or None, rule, message) of an unwaived finding
Unwaived = tuple[str, int, str | None, str, str]


def traced_findings(script: Script, server: URL) -> list[Unwaived]:
    """The unwaived findings of `script`, traced now."""
    traces = trace_revision(script, server)
    found = []
    for direction in DIRECTIONS:
        steps = traces[direction].steps
        for f in trace_gate.unwaived(traces[direction]):
            sql = steps[f.statement - 1].sql if 0 < f.statement <= len(steps) else None
            found.append((direction, f.statement, sql, f.rule, f.message))
    return found


def committed_findings(script: Script) -> list[Unwaived]:
    """The unwaived findings the committed trace file of `script` records."""
    data = json.loads((REPO_ROOT / trace_path(script)).read_text())
    found = []
    for direction in DIRECTIONS:
        statements = data[direction]["statements"]
        for f in data[direction]["findings"]:
            if "waived" in f:
                continue
            number = f["statement"]
            sql = statements[number - 1]["sql"] if 0 < number <= len(statements) else None
            found.append((direction, number, sql, f["rule"], f["message"]))
    return found


def revision_blocks_writes(revision: str, server: URL, direction: str = "upgrade") -> bool:
    """Whether the trace of `revision` (an id) marks it as blocking writes to a table in
    use, waived or not: what the stall benchmark compares with its measurements."""
    for script in revisions():
        if script.revision == revision:
            return trace_gate.trace_blocks_writes(trace_revision(script, server)[direction])
    raise UserError(f"unknown revision {revision}")


@contextmanager
def parent_states() -> Iterator[ParentStates]:
    """Parents' databases for the traces of one run; the ladder is dropped at the end."""
    parents = ParentStates()
    try:
        yield parents
    finally:
        parents.close()
