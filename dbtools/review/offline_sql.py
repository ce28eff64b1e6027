"""Shapes the SQL that `alembic upgrade --sql` writes into a script a DBA can review.

Alembic writes, per revision: `BEGIN;`, then (for the first revision only) the version
table, then `-- Running upgrade A -> B`, the statements and `COMMIT;`. This moves the
`-- Running` comment above its `BEGIN;` and adds the revision's message to it, so each
revision's block is headed by its name, and puts the timeouts the revision runs with
right after the `BEGIN;`.
"""

import re
from collections.abc import Mapping
from typing import TextIO

from alembic import command

from dbtools.core import search_path
from dbtools.core.bookkeeping import bookkeeping
from dbtools.core.chain import messages
from dbtools.core.options import Hooks, RunOptions, run_config
from dbtools.core.settings import Env, Timeouts

_BEGIN = "BEGIN;"
_COMMIT = "COMMIT;"
_HEADER = "-- Running "
# Alembic's step log: "upgrade A -> B" (A empty at the base), "downgrade B -> A".
_STEP = re.compile(r"^-- Running (upgrade|downgrade) (.*?) -> (.*?)\s*$")


def step_header(chunk: str, messages: Mapping[str, str]) -> str:
    """`-- Running upgrade A -> B` as `-- Running upgrade A -> B, <message of B>`.

    The revision a step applies is B on the way up and A on the way down; the base
    (an empty database) is named `base` instead of being left blank.
    """
    match = _STEP.match(chunk)
    if match is None:
        return chunk
    direction, before, after = match.groups()
    revision = after if direction == "upgrade" else before
    message = messages.get(revision.strip(), "")
    line = f"-- Running {direction} {before or 'base'} -> {after or 'base'}"
    return f"{line}, {message}\n\n" if message else f"{line}\n\n"


class RevisionBlocks:
    """A text stream for Alembic's `output_buffer` that rewrites as described above.

    Alembic writes whole statements, one per `write()`, which is what this relies on.
    """

    def __init__(
        self, out: TextIO, preamble: list[str], messages: Mapping[str, str] | None = None
    ) -> None:
        self._out = out
        self._messages = messages or {}
        self._preamble = "".join(line + "\n" for line in preamble) + "\n"
        self._held: list[str] | None = None  # what came after a BEGIN; not yet written
        self._version_table = f"CREATE TABLE {bookkeeping().qualified_version}"

    def write(self, chunk: str) -> int:
        if chunk.startswith(_BEGIN):
            self._held = []
        elif chunk.startswith(_COMMIT) and self._held == []:
            self._held = None  # a transaction with nothing in it, between two autocommit blocks
        elif self._held is None:
            self._out.write(chunk)
        elif chunk.startswith(_HEADER):
            self._out.write(step_header(chunk, self._messages))
            self._flush_held()
        elif chunk.startswith(self._version_table):
            self._held.append(chunk)
        else:
            # A BEGIN that reopens a transaction inside a revision (after an
            # autocommit block): keep everything in order.
            self._flush_held()
            self._out.write(chunk)
        return len(chunk)

    def _flush_held(self) -> None:
        held = self._held or []
        self._held = None
        self._out.write(_BEGIN + "\n\n" + self._preamble + "".join(held))

    def flush(self) -> None:
        self._out.flush()


def revision_blocks(out: TextIO, timeouts: Timeouts) -> TextIO:
    """The offline-output hook handed to env.py (`Hooks.offline_output`)."""
    # The script pins its session's search_path as the tooling's own sessions do.
    preamble = [*timeouts.sql(), f"{search_path.set_sql()};"]
    return RevisionBlocks(out, preamble, messages())  # type: ignore[return-value]


def write_upgrade_sql(env: Env, out: TextIO, from_rev: str = "", to: str = "") -> None:
    """`make sql`: the upgrade SQL from `from_rev` (default: an empty database) to `to`
    (default head), written to `out`; connects nowhere."""
    target = to or "head"
    span = f"{from_rev}:{target}" if from_rev else target
    options = RunOptions(env=env, hooks=Hooks(offline_output=revision_blocks))
    command.upgrade(run_config(options, output_buffer=out), span, sql=True)
