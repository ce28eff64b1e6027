"""The gate on what a trace observed: a revision must not block writes to, or rewrite, a
table that services are using, unless it says why.

A table "in use" existed before the direction ran and still exists after it (a table the
direction creates or drops is nobody's yet, or any more). Two rules:

- `trace-blocks-writes`: a statement scans or rewrites such a table while its
  transaction holds a lock that blocks writes to such a table (SHARE or stronger, taken
  by this statement or an earlier one of the same transaction). A brief catalog-only
  lock (an `ADD COLUMN`, a `NOT VALID` constraint, a `SET NOT NULL` a validated CHECK
  proves) is held while nothing reads the table, so it is not a finding; Squawk judges
  what only the text shows. One finding per wait: later statements of the transaction
  that work under the same locks (writes already wait until it commits) add none.
- `trace-rewrites-table`: a statement rewrote such a table (its relfilenode changed).
- `trace-fails`: the direction fails on a database whose tables hold a few rows (a
  `NOT NULL` column without a default, a constraint the rows break).

A waiver (`op.waive_lint("trace-blocks-writes", reason="...")`, in the direction's own
function) covers the first finding of its rule in the statements after it; a trace
waiver that covers nothing is a finding of its own.
"""

from dataclasses import dataclass

from dbtools.review.locks import MODES, blocks, blocks_writes
from dbtools.review.trace import DirectionTrace, Step, Waiver

BLOCKS_WRITES = "trace-blocks-writes"
REWRITES = "trace-rewrites-table"
FAILS = "trace-fails"  # the direction fails on a database whose tables hold rows
RULES = (BLOCKS_WRITES, REWRITES, FAILS)


def is_trace_rule(rule: str) -> bool:
    return rule.startswith("trace-")


@dataclass(frozen=True)
class Finding:
    rule: str
    statement: int  # the step's position in the direction, counted from 1
    message: str
    waived_because: str | None = None
    unused_waiver: bool = False  # a trace waiver that covers no finding

    @property
    def waived(self) -> bool:
        return self.waived_because is not None


def observed(trace: DirectionTrace) -> list[Finding]:
    """Every finding of the trace, waived or not, and each trace waiver that waives
    nothing (statement 0 when it sits after the last statement)."""
    kept = trace.kept_tables
    held: dict[int, dict[str, tuple[str, int]]] = {}
    reported: set[tuple[int, tuple[tuple[str, tuple[str, int]], ...]]] = set()
    found: list[Finding] = []
    for number, step in enumerate(trace.steps, start=1):
        locks = held.setdefault(step.transaction, {})
        for lock in step.locks:
            if lock.relation in kept and blocks_writes(lock.mode):
                earlier = locks.get(lock.relation)
                if earlier is None or MODES.index(lock.mode) > MODES.index(earlier[0]):
                    locks[lock.relation] = (lock.mode, number)
        step_found = _findings(step, number, kept, locks)
        # One window, one finding: once a statement is reported for working on a table
        # under the transaction's write-blocking locks, later statements of that
        # transaction under the very same locks (the indexes a rebuild recreates after
        # its rewrite) extend the wait the finding already names until commit.
        window = (step.transaction, tuple(sorted(locks.items())))
        if any(f.rule == BLOCKS_WRITES for f in step_found):
            if window in reported:
                step_found = [f for f in step_found if f.rule != BLOCKS_WRITES]
            reported.add(window)
        found += step_found
    if trace.error is not None:
        found.append(
            Finding(
                FAILS,
                len(trace.steps) + 1,
                f"fails on a database whose tables hold a few rows: {trace.error}",
            )
        )
    return _waive(trace.steps, found, trace.trailing_waivers)


def _findings(
    step: Step, number: int, kept: frozenset[str], locks: dict[str, tuple[str, int]]
) -> list[Finding]:
    found = []
    rewritten = [t for t in step.rewrites if t in kept]
    scanned = [t for t in step.scans if t in kept and t not in rewritten]
    work = [f"rewrites {t}" for t in rewritten] + [f"reads all of {t}" for t in scanned]
    if work and locks:
        held = "; ".join(
            f"{mode} on {table} (blocks {' and '.join(blocks(mode))}"
            + (f", taken by statement {taken})" if taken != number else ")")
            for table, (mode, taken) in sorted(locks.items())
        )
        found.append(
            Finding(
                BLOCKS_WRITES,
                number,
                f"{' and '.join(work)} while its transaction holds {held}: writes wait until "
                "it commits",
            )
        )
    found += [
        Finding(REWRITES, number, f"rewrites {table}: every row is copied under the lock")
        for table in rewritten
    ]
    return found


def _waive(
    steps: tuple[Step, ...], found: list[Finding], trailing: tuple[Waiver, ...]
) -> list[Finding]:
    """Each waiver covers the first finding of its rule at or after its statement."""
    result = list(found)
    placed = [(number, step.waivers) for number, step in enumerate(steps, start=1)]
    placed.append((len(steps) + 1, trailing))
    waivers = [
        (number, rule, waiver.reason)
        for number, declared in placed
        for waiver in declared
        for rule in waiver.rules
        if is_trace_rule(rule)
    ]
    for at, rule, reason in waivers:
        index = next(
            (
                i
                for i, f in enumerate(result)
                if f.rule == rule and f.statement >= at and not f.waived
            ),
            None,
        )
        if index is None:
            result.append(
                Finding(
                    rule,
                    at,
                    f"waiver of {rule} waives nothing: no statement after it in this direction "
                    "does what the rule names; remove that op.waive_lint(...) or move it "
                    "before the statement it is meant for",
                    unused_waiver=True,
                )
            )
            continue
        f = result[index]
        result[index] = Finding(f.rule, f.statement, f.message, waived_because=reason)
    return sorted(result, key=lambda f: (f.statement, f.rule))


def unwaived(trace: DirectionTrace) -> list[Finding]:
    return [f for f in observed(trace) if not f.waived]


def trace_blocks_writes(trace: DirectionTrace) -> bool:
    """Whether the direction blocks writes to a table in use (waived or not), as the
    stall benchmark measures it: a write-blocking lock held while a table in use is
    read in full or rewritten."""
    return any(f.rule == BLOCKS_WRITES and not f.unused_waiver for f in observed(trace))
