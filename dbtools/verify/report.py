"""The outcome of a verify, for people (text) and for machines (one JSON document).

Loads neither SQLAlchemy nor the comparison: a repeated verify that matches prints
through here too (`dbtools/verify/repeated.py`).
"""

import json
import textwrap
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from dbtools.core.errors import UserError

if TYPE_CHECKING:
    from dbtools.verify.compare import Difference

FORMATS = ("text", "json")


def output_format(env: dict[str, str]) -> str:
    """VERIFY_FORMAT: `text` (the default) or `json`."""
    fmt = env.get("VERIFY_FORMAT", "").strip().lower() or "text"
    if fmt not in FORMATS:
        raise UserError(f"VERIFY_FORMAT must be text or json, got {fmt!r}")
    return fmt


@dataclass(frozen=True)
class Outcome:
    database: str  # the URL with its password masked
    revisions: tuple[str, ...]
    schemas: list[str]
    template: str
    differences: "list[Difference]"

    @property
    def revision(self) -> str:
        return ", ".join(self.revisions) or "base"

    @property
    def status(self) -> str:
        return "drift" if self.differences else "match"


def as_text(outcome: Outcome) -> str:
    if not outcome.differences:
        return f"matches revision {outcome.revision}"
    count = len(outcome.differences)
    lines = [f"differs from revision {outcome.revision} in {count} place(s):", ""]
    for d in outcome.differences:
        lines.append(f"{d.kind}: {d.object}")
        lines.append(f"    expected: {_shown(d.expected)}")
        lines.append(f"    found:    {_shown(d.actual)}")
        lines.append("    fix:")
        lines.append(textwrap.indent(d.fix, "        "))
    lines += ["", script(outcome)]
    return "\n".join(lines)


def script(outcome: Outcome) -> str:
    """Every fix in order, as one script for `psql -1 -v ON_ERROR_STOP=1` (one transaction:
    no fix needs to run outside one)."""
    from dbtools.verify.live import search_path

    header = [
        "-- the fixes above as one script, in order; run it in one transaction:",
        "--   psql -1 -v ON_ERROR_STOP=1 -f fix.sql",
        f"SET search_path = {search_path(outcome.schemas)};",
    ]
    return "\n".join(header + [d.fix for d in outcome.differences])


def _shown(value: str | None) -> str:
    if value is None:
        return "(absent)"
    return " ".join(value.split()) if len(value) < 200 else " ".join(value.split())[:200] + " ..."


def as_json(outcome: Outcome) -> str:
    document = {
        "status": outcome.status,
        "database": outcome.database,
        "revision": outcome.revision,
        "revisions": list(outcome.revisions),
        "schemas": outcome.schemas,
        "template": outcome.template,
        "differences": [asdict(d) for d in outcome.differences],
        "script": script(outcome) if outcome.differences else "",
    }
    return json.dumps(document, indent=2)


def migration_running_json(database: str) -> str:
    return json.dumps({"status": "migration-running", "database": database, "differences": []})
