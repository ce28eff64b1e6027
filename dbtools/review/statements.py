"""Where each statement of a rendered SQL script starts and ends, by line.

The linter reports a finding on one line of a statement (a column inside a multi-line
`CREATE TABLE`, say); a waiver names the statement, not the line. Alembic's offline
output ends every statement with `;` at the end of a line, and puts comments only
between statements, which is all this needs. Dollar-quoted bodies (`$$ ... $$`, as in a
function) may hold lines ending in `;` and are kept whole.
"""

from dataclasses import dataclass

from dbtools.core.bookkeeping import bookkeeping


@dataclass(frozen=True)
class Statement:
    first: int  # line numbers, counted from 0, both inclusive
    last: int
    opening: str  # the statement's first line, as a reader would recognise it

    def holds(self, row: int) -> bool:
        return self.first <= row <= self.last

    @property
    def records_the_version(self) -> bool:
        """Alembic's own bookkeeping, which closes every revision's steps."""
        version = bookkeeping().qualified_version
        verbs = ("UPDATE ", "INSERT INTO ", "DELETE FROM ")
        return self.opening.startswith(tuple(verb + version for verb in verbs))


def statements(lines: list[str]) -> list[Statement]:
    """The statements of a script, in order."""
    found = []
    first = None
    in_dollar_quote = False
    for row, line in enumerate(lines):
        stripped = line.strip()
        if first is None:
            if not stripped or stripped.startswith("--"):
                continue
            first = row
        if stripped.count("$$") % 2:
            in_dollar_quote = not in_dollar_quote
        if not in_dollar_quote and stripped.endswith(";"):
            found.append(Statement(first, row, lines[first].strip()))
            first = None
    return found
