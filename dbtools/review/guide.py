"""The generated part of the reviewer's guide, `docs/reviewing.md`.

The guide is prose, except for one example between marker comments: the committed
upgrade SQL of a real revision, so the example always shows what the tools print today.
"""

from pathlib import Path

from dbtools.core.artefacts import Artefact
from dbtools.core.paths import REPO_ROOT
from dbtools.review.fingerprints import Fingerprints
from dbtools.review.revision_sql import current, revisions, sql_path

GUIDE = Path("docs/reviewing.md")
BEGIN = "<!-- BEGIN generated: example revision SQL (make generate) -->"
END = "<!-- END generated: example revision SQL -->"


def example_block() -> str:
    """The second revision's upgrade SQL (the first carries the version table's setup)."""
    chain = revisions()
    script = chain[min(1, len(chain) - 1)]
    sql = current(script, "upgrade", Fingerprints.now())
    return f"`{sql_path(script, 'upgrade')}`:\n\n```sql\n{sql.rstrip()}\n```"


def render() -> str:
    text = (REPO_ROOT / GUIDE).read_text()
    head, found, rest = text.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        return text  # markers removed by hand: leave the prose alone
    return f"{head}{BEGIN}\n{example_block()}\n{END}{tail}"


def artefacts() -> list[Artefact]:
    return [Artefact(GUIDE, render)] if (REPO_ROOT / GUIDE).exists() else []
