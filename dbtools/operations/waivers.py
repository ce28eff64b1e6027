"""`op.waive_lint(...)`: a revision's own, reasoned exception to a migration-safety rule.

A revision that must break one of the linter's rules says so right before the operation:

    op.waive_lint("adding-required-field", reason="users is empty until launch")
    op.add_column("users", sa.Column("tenant_id", sa.BigInteger(), nullable=False))

Offline (`--sql`, which is how the committed SQL is rendered) this writes two comment
lines in front of the next statement: the reason, then `-- squawk-ignore <rule>` (the
form Squawk itself knows, so the committed file reads the same to anyone running Squawk
by hand). Online it runs nothing. `make lint` (dbtools/review/lint.py) applies the waiver to the
first statement after it in its revision that breaks the rule, on any line of that
statement and past statements emitted implicitly (an enum's `CREATE TYPE` before its
table), and reports a waiver that covers nothing, so a waiver cannot outlive the reason
it was written for.

Importing this module registers the operation; `migrations/env.py` imports it.
"""

import logging
from dataclasses import dataclass

from alembic.operations import MigrateOperation, Operations

from dbtools.operations.declare import operation

log = logging.getLogger("alembic.env")

WAIVER_PREFIX = "-- Lint waiver: "
IGNORE_PREFIX = "-- squawk-ignore "
# What a waiver logs online (the lock trace, dbtools/review/trace.py, reads it).
WAIVER_LOG = "Lint waiver (%s): %s"


@operation("waive_lint")
@dataclass(eq=False)
class WaiveLintOp(MigrateOperation):
    """Waive the named linter rule(s) for the statement that follows, with a reason."""

    rules: list[str]
    reason: str

    def __post_init__(self) -> None:
        rules = self.rules
        self.rules = [rules] if isinstance(rules, str) else list(rules)
        if not self.rules or not all(n and n.replace("-", "").isalnum() for n in self.rules):
            raise ValueError(f"waive_lint needs rule names like 'ban-drop-column', got {rules!r}")
        if not self.reason or not self.reason.strip():
            raise ValueError("waive_lint needs a reason: say why the rule does not apply here")
        self.reason = " ".join(self.reason.split())

    def reverse(self) -> MigrateOperation:
        raise NotImplementedError(
            "waive_lint has no reverse: a downgrade waives its own rules, before the "
            "statement each is for"
        )


@Operations.implementation_for(WaiveLintOp)
def _waive_lint(operations: Operations, operation: WaiveLintOp) -> None:
    context = operations.get_context()
    if not context.as_sql:
        log.info(WAIVER_LOG, ", ".join(operation.rules), operation.reason)
        return
    # Written straight to the buffer, not through static_output(): that adds a blank
    # line, and Squawk's ignore comment covers only the line right below it.
    context.impl.output_buffer.write(
        f"{WAIVER_PREFIX}{operation.reason}\n{IGNORE_PREFIX}{', '.join(operation.rules)}\n"
    )
