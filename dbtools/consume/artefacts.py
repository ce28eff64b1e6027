"""The generated artefacts services consume: the revision chain packaged with `schema`,
`schema.sql` and `docs/schema.md`."""

from collections.abc import Callable
from pathlib import Path

from dbtools.consume import revision_module, schema_docs, snapshot
from dbtools.core.artefacts import Artefact
from dbtools.core.settings import Env

SNAPSHOT = Path(snapshot.PATH)


def artefacts(
    env: Env, snapshot_fresh: Callable[[], bool], start: snapshot.Start
) -> list[Artefact]:
    """`env` names the server schema.sql is dumped on (DATABASE_URL's, else the embedded),
    from a database `start` makes there; `snapshot_fresh` proves without dumping that the
    committed schema.sql is current."""
    return [
        Artefact(Path(revision_module.PATH), revision_module.render),
        Artefact(Path(schema_docs.PATH), schema_docs.render),
        Artefact(SNAPSHOT, lambda: snapshot.render(env, start), snapshot_fresh),
    ]
