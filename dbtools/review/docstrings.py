"""A revision's docstring is written by its author, not left as the template's.

`migrations/script.py.mako` puts a placeholder in every new revision's docstring (what
changes and why, what it locks, whether it is safe online, what the downgrade does).
`make check` refuses a revision that still holds it: the DBA reviewing the revision
reads that paragraph first. The placeholder is read from the template itself, so the
two never drift apart.
"""

import ast
import re
from pathlib import Path

from dbtools.core.paths import MIGRATIONS, REPO_ROOT, VERSIONS

TEMPLATE = MIGRATIONS / "script.py.mako"


def placeholder(template: Path = TEMPLATE) -> str:
    """The opening of the template's `<...>` placeholder: `<Say what changes and why`."""
    found = re.search(r"<[^>.\n]*", template.read_text())
    return found.group(0) if found else ""


def unwritten_docstrings(versions: Path = VERSIONS) -> list[str]:
    """One line per revision whose docstring still holds the template's placeholder."""
    marker = placeholder()
    if not marker:
        return []
    return [
        f"{path.relative_to(REPO_ROOT)}: the docstring still holds the template's "
        f"placeholder ({marker}...>): replace it with what the revision changes and why"
        for path in sorted(versions.glob("*.py"))
        if marker in (docstring(path) or "")
    ]


def docstring(path: Path) -> str | None:
    try:
        return ast.get_docstring(ast.parse(path.read_text()), clean=False)
    except SyntaxError:  # named by the lint and by the pre-run check, not here
        return None
