"""`op.backfill_in_batches(...)`: a data migration that never holds a large table for long.

    op.backfill_in_batches(
        "users",
        set_="nickname = name",
        where="nickname IS NULL",
        batch_size=10_000,
        pause_seconds=0.1,
    )

Outside the revision's transaction (dbtools/operations/outside.py), rows are updated by
ranges of the integer key (`key`, default `id`), each range in a transaction of its own,
so row locks last one batch and no statement runs long. `where` selects the rows that
still need the update, which makes the backfill resumable: a rerun after an interruption
starts at the lowest key still matching it, and rows already done are never touched
again. A progress line per batch goes to stderr. `set_` and `where` are SQL, as a
reviewer reads them; they must not contain `:name` (it would read as a parameter).

Offline it renders as one `DO` block that loops over the same ranges and commits after
each batch (PostgreSQL 11+, outside a transaction, as psql runs it after the `COMMIT;`).
"""

import logging
import time
from dataclasses import dataclass, field

from alembic.operations import MigrateOperation, Operations
from sqlalchemy import text

from dbtools.operations.declare import operation
from dbtools.operations.outside import outside_transaction, quote

log = logging.getLogger("alembic.env")

DEFAULT_BATCH_SIZE = 10_000


@operation("backfill_in_batches")
@dataclass(eq=False)
class BackfillInBatchesOp(MigrateOperation):
    """UPDATE table SET set_ WHERE where, in key ranges of batch_size, each committed."""

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
    bind = operations.get_bind()
    bounds = f"SELECT min({key}), max({key}) FROM {table} WHERE ({op.where})"
    low, high = bind.execute(text(bounds)).one()
    if low is None:
        log.info("Backfill %s: no rows match `%s`: nothing to do", op.table_name, op.where)
        return
    batches = (high - low) // op.batch_size + 1
    total = 0
    for number, start in enumerate(range(low, high + 1, op.batch_size), start=1):
        end = start + op.batch_size
        update = (
            f"UPDATE {table} SET {op.set_} "
            f"WHERE {key} >= {start} AND {key} < {end} AND ({op.where})"
        )
        total += bind.execute(text(update)).rowcount
        log.info(
            "Backfill %s: batch %d of %d (%s %d to %d): %d rows so far",
            op.table_name, number, batches, op.key, start, end - 1, total,
        )  # fmt: skip
        if op.pause_seconds and number < batches:
            time.sleep(op.pause_seconds)


# The same loop for psql: one DO block, a COMMIT after every batch, a NOTICE per batch.
_LOOP = """DO $$
DECLARE
    low bigint;
    high bigint;
    done bigint;
BEGIN
    SELECT min({key}), max({key}) INTO low, high FROM {table} WHERE ({op.where});
    WHILE low <= high LOOP
        UPDATE {table} SET {op.set_}
        WHERE {key} >= low AND {key} < low + {op.batch_size} AND ({op.where});
        GET DIAGNOSTICS done = ROW_COUNT;
        RAISE NOTICE USING MESSAGE = 'Backfill {op.table_name}: {op.key} from ' || low
            || ', ' || done || ' rows';
        COMMIT;{pause}
        low := low + {op.batch_size};
    END LOOP;
END
$$"""
