"""Every generated, committed artefact: what `make generate` writes and `make check` verifies.

Renders that need PostgreSQL (schema.sql) build a scratch database of their own and drop
it; they never read the user's data.
"""

from pathlib import Path

from dbtools.consume import artefacts as consumer_artefacts
from dbtools.core.artefacts import Artefact
from dbtools.review import guide, revision_sql, revision_trace


def artefacts() -> list[Artefact]:
    """Every generated artefact. Add new ones here; `generate` and `stale` follow."""
    return [
        *revision_sql.artefacts(),
        *revision_trace.artefacts(),
        *guide.artefacts(),
        *consumer_artefacts.artefacts(),
    ]


def generate() -> list[Path]:
    """Write every artefact whose text changed; return the paths written."""
    return [artefact.path for artefact in artefacts() if artefact.write()]


def stale() -> list[Path]:
    """The artefacts whose committed text differs from what `generate` would write."""
    return [a.path for a in artefacts() if a.is_stale()]
