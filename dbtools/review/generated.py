"""Every generated, committed artefact: what `make generate` writes and `make check` verifies.

Renders that need PostgreSQL (schema.sql) build a scratch database of their own and drop
it; they never read the user's data. schema.sql's starts as a copy of the kept database
of the released chain (dbtools/review/released_template.py), so only the revisions above
the release are applied to dump it.
"""

from pathlib import Path

from dbtools.consume import artefacts as consumer_artefacts
from dbtools.core.artefacts import Artefact
from dbtools.core.settings import Env
from dbtools.review import guide, revision_sql, revision_trace
from dbtools.review.fingerprints import Fingerprints
from dbtools.review.released_template import database_at_release


def artefacts(env: Env, parents: revision_trace.ParentStates | None = None) -> list[Artefact]:
    """Every generated artefact. Add new ones here; `generate` and `stale` follow.
    `env` names the server those that need PostgreSQL render on; the traces of one run
    share `parents` (the databases at each revision's parent), if given."""
    known = Fingerprints.now()
    return [
        *revision_sql.artefacts(known),
        *revision_trace.artefacts(env, known, parents),
        *guide.artefacts(),
        *consumer_artefacts.artefacts(env, lambda: snapshot_holds(known), database_at_release),
    ]


def snapshot_holds(known: Fingerprints) -> bool:
    """Whether schema.sql is what the chain dumps to, by its recorded fingerprint."""
    revision_files = {revision_file for _sql, revision_file in revision_sql.files()}
    return known.holds_for_chain(consumer_artefacts.SNAPSHOT, revision_files)


def paths() -> list[Path]:
    """Where the artefacts live (nothing is rendered, so no server is named)."""
    return [artefact.path for artefact in artefacts({})]


def generate(env: Env) -> list[Path]:
    """Write every artefact whose text changed; return the paths written."""
    with revision_trace.parent_states() as parents:
        return [artefact.path for artefact in artefacts(env, parents) if artefact.write()]


def stale(env: Env) -> list[Path]:
    """The artefacts whose committed text differs from what `generate` would write."""
    with revision_trace.parent_states() as parents:
        return [a.path for a in artefacts(env, parents) if a.is_stale()]
