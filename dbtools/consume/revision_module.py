"""Renders `schema/_revision.py`: the chain of revisions the package is built for.

An installed `schema` package has no `migrations/` folder, so the start-up check needs
the head revision, and the revisions before it, written into the package itself.
"""

from dbtools.core.chain import script_directory, single_head

PATH = "schema/_revision.py"

_TEMPLATE = '''"""The revisions this package was built for; written by `make generate`, do not edit.

REVISIONS lists every revision from the first to the head, in the order they apply,
so the start-up check can tell a database behind the head from one ahead of it.
"""

HEAD_REVISION = "{head}"

REVISIONS: tuple[str, ...] = (
{lines})
'''


def revision_chain() -> list[tuple[str, str]]:
    """(revision id, first line of its message) from the first revision to the head."""
    script = script_directory()
    newest_first = script.walk_revisions("base", single_head(script))
    return [(r.revision, (r.doc or "").splitlines()[0].strip()) for r in newest_first][::-1]


def render() -> str:
    chain = revision_chain()
    lines = "".join(f'    "{rev}",  # {_short(message)}\n' for rev, message in chain)
    return _TEMPLATE.format(head=chain[-1][0], lines=lines)


def _short(message: str, width: int = 70) -> str:
    # Keeps each line within ruff's line length, whatever the revision's message.
    return message if len(message) <= width else message[: width - 3] + "..."
