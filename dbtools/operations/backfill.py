"""`op.backfill_in_batches(...)`: a data migration that never holds a large table for long.

    op.backfill_in_batches(
        "users",
        set_="nickname = name",
        where="nickname IS NULL",
        batch_size=10_000,
        pause_seconds=0.1,
    )

Outside the revision's transaction (dbtools/operations/outside.py), rows are updated in
batches of the next `batch_size` keys (`key`, default `id`) that still match `where`
(keyset pagination: `WHERE key > last ORDER BY key LIMIT n`), each batch in a
transaction of its own, so row locks last one batch, no statement runs long, and the
cost follows the rows, not the range of the keys (ids 1 and 10^12 are two rows, not a
billion empty ranges). `where` selects the rows that still need the update, which makes
the backfill resumable: a rerun after an interruption starts at the lowest key still
matching it, and rows already done are never touched again. Progress goes to stderr:
the first batch, then at most one line per tenth of the batches or per 10 seconds.
`set_` and `where` are SQL, as a reviewer reads them; they must not contain `:name` (it
would read as a parameter).

Offline it renders as one `DO` block that pages over the keys the same way (an integer
key) and commits after each batch (PostgreSQL 11+, outside a transaction, as psql runs it
after the `COMMIT;`).
"""

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from alembic.operations import MigrateOperation, Operations
from sqlalchemy import text

from dbtools.operations.declare import operation
from dbtools.operations.outside import outside_transaction, quote

log = logging.getLogger("alembic.env")

DEFAULT_BATCH_SIZE = 10_000
PROGRESS_SECONDS = 10.0


@operation("backfill_in_batches")
@dataclass(eq=False)
class BackfillInBatchesOp(MigrateOperation):
    """UPDATE table SET set_ WHERE where, batch_size keys at a time, each batch committed."""

    table_name: str
    set_: str
    where: str
    key: str = field(default="id", kw_only=True)
    batch_size: int = field(default=DEFAULT_BATCH_SIZE, kw_only=True)
    pause_seconds: float = field(default=0.0, kw_only=True)
    schema: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not self.where or not self.where.strip():
            raise ValueError(
                "backfill_in_batches needs `where`: the condition of rows still to update "
                "(it is what lets an interrupted backfill resume)"
            )
        if self.batch_size < 1 or self.pause_seconds < 0:
            raise ValueError("backfill_in_batches needs batch_size >= 1 and pause_seconds >= 0")
        self.batch_size, self.pause_seconds = int(self.batch_size), float(self.pause_seconds)

    def reverse(self) -> MigrateOperation:
        raise NotImplementedError(
            "backfill_in_batches has no reverse: the values it overwrote are gone; a "
            "downgrade that needs them back says so by hand"
        )


@Operations.implementation_for(BackfillInBatchesOp)
def _backfill_in_batches(operations: Operations, op: BackfillInBatchesOp) -> None:
    table = quote(operations, op.table_name, op.schema)
    key = quote(operations, op.key)
    with outside_transaction(operations) as outside:
        if not outside.online:
            pause = f"\n        PERFORM pg_sleep({op.pause_seconds});" if op.pause_seconds else ""
            operations.execute(_LOOP.format(table=table, key=key, op=op, pause=pause))
            return
        run_batches(operations, op, table, key)


def run_batches(operations: Operations, op: BackfillInBatchesOp, table: str, key: str) -> None:
    """Keyset pagination: each batch is the next `batch_size` keys that still match
    `where`, so the cost follows the rows, never the range of the keys."""
    bind = operations.get_bind()
    remaining = bind.execute(text(f"SELECT count(*) FROM {table} WHERE ({op.where})")).scalar()
    if not remaining:
        log.info("Backfill %s: no rows match `%s`: nothing to do", op.table_name, op.where)
        return
    batches = -(-int(remaining) // op.batch_size)
    progress = Progress(op.table_name, op.key, batches)
    last: Any = None
    total = 0
    number = 0
    while True:
        after = "" if last is None else f" AND {key} > {_shown(last, 'last')}"
        window = (
            f"SELECT min(k), max(k) FROM (SELECT {key} AS k FROM {table} "
            f"WHERE ({op.where}){after} ORDER BY {key} LIMIT {op.batch_size}) batch"
        )
        first, upper = bind.execute(text(window), {"last": last}).one()
        if upper is None:
            break
        if number and op.pause_seconds:
            time.sleep(op.pause_seconds)
        number += 1
        update = (
            f"UPDATE {table} SET {op.set_} WHERE ({op.where}){after} "
            f"AND {key} <= {_shown(upper, 'upper')}"
        )
        total += bind.execute(text(update), {"last": last, "upper": upper}).rowcount
        progress.batch_done(number, first, upper, total)
        last = upper
    progress.finished(number, total)


def _shown(value: Any, name: str) -> str:
    """An integer key as a literal (the error lists the batches that committed as
    readable SQL); any other key as the bind parameter `:name`."""
    is_integer = isinstance(value, int) and not isinstance(value, bool)
    return str(value) if is_integer else f":{name}"


class Progress:
    """Progress lines: the first batch, then at most one per tenth of the batches or per
    PROGRESS_SECONDS, and the end, whatever the number of batches."""

    def __init__(self, table: str, key: str, batches: int) -> None:
        self.table, self.key, self.batches = table, key, batches
        self.shown_tenth = -1
        self.shown_at = 0.0
        self.last_shown = 0

    def batch_done(self, number: int, first: Any, upper: Any, total: int) -> None:
        tenth = number * 10 // max(self.batches, 1)
        now = time.monotonic()
        if tenth == self.shown_tenth and now - self.shown_at < PROGRESS_SECONDS:
            return
        self.shown_tenth, self.shown_at, self.last_shown = tenth, now, number
        log.info(
            "Backfill %s: batch %d of %d (%s %s to %s): %d rows so far",
            self.table, number, self.batches, self.key, first, upper, total,
        )  # fmt: skip

    def finished(self, number: int, total: int) -> None:
        if number != self.last_shown:
            log.info("Backfill %s: %d batches, %d rows", self.table, number, total)


# The same loop for psql: one DO block, a COMMIT after every batch, a NOTICE per batch;
# keys page over the rows that exist (an integer key, offline).
_LOOP = """DO $$
DECLARE
    last bigint;
    upper bigint;
    done bigint;
BEGIN
    SELECT min({key}) - 1 INTO last FROM {table} WHERE ({op.where});
    WHILE last IS NOT NULL LOOP
        SELECT max(k) INTO upper FROM (
            SELECT {key} AS k FROM {table} WHERE ({op.where}) AND {key} > last
            ORDER BY {key} LIMIT {op.batch_size}
        ) batch;
        EXIT WHEN upper IS NULL;
        UPDATE {table} SET {op.set_}
        WHERE ({op.where}) AND {key} > last AND {key} <= upper;
        GET DIAGNOSTICS done = ROW_COUNT;
        RAISE NOTICE USING MESSAGE = 'Backfill {op.table_name}: {op.key} up to ' || upper
            || ', ' || done || ' rows';
        COMMIT;{pause}
        last := upper;
    END LOOP;
END
$$"""
