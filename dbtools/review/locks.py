"""What each table-level lock mode of PostgreSQL blocks, from its conflict table.

The table is PostgreSQL's own ("Conflicting Lock Modes", the documentation's explicit
locking chapter); tests/test_trace.py checks every pair of it against a server with
`LOCK TABLE ... NOWAIT`. A plain `SELECT` takes ACCESS SHARE and a write (`INSERT`,
`UPDATE`, `DELETE`) takes ROW EXCLUSIVE, so a mode blocks reads when it conflicts with
ACCESS SHARE and writes when it conflicts with ROW EXCLUSIVE.
"""

MODES = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)

CONFLICTS: dict[str, frozenset[str]] = {
    "ACCESS SHARE": frozenset({"ACCESS EXCLUSIVE"}),
    "ROW SHARE": frozenset({"EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "ROW EXCLUSIVE": frozenset({"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "SHARE UPDATE EXCLUSIVE": frozenset(
        {"SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}
    ),
    "SHARE": frozenset(
        {"ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE"}
        | {"ACCESS EXCLUSIVE"}
    ),
    "SHARE ROW EXCLUSIVE": frozenset(MODES[2:]),
    "EXCLUSIVE": frozenset(MODES[1:]),
    "ACCESS EXCLUSIVE": frozenset(MODES),
}

READ = "ACCESS SHARE"  # what a plain SELECT takes
WRITE = "ROW EXCLUSIVE"  # what INSERT, UPDATE and DELETE take


def mode_name(pg_locks_mode: str) -> str:
    """`AccessExclusiveLock` (pg_locks.mode) as `ACCESS EXCLUSIVE` (the SQL name)."""
    words, word = [], ""
    for char in pg_locks_mode.removesuffix("Lock"):
        if char.isupper() and word:
            words.append(word)
            word = ""
        word += char
    words.append(word)
    return " ".join(words).upper()


def blocks(mode: str) -> list[str]:
    """What a lock of `mode` makes wait: `reads`, `writes`, both, or neither."""
    conflicts = CONFLICTS[mode]
    return [what for what, taken in (("reads", READ), ("writes", WRITE)) if taken in conflicts]


def blocks_writes(mode: str) -> bool:
    return WRITE in CONFLICTS[mode]
