"""The generated artefacts services consume: the revision chain packaged with `schema`,
`schema.sql` and `docs/schema.md`."""

from pathlib import Path

from dbtools.consume import revision_module, schema_docs, snapshot
from dbtools.core.artefacts import Artefact
from dbtools.core.settings import Env


def artefacts(env: Env) -> list[Artefact]:
    """`env` names the server schema.sql is dumped on (DATABASE_URL's, else the embedded)."""
    return [
        Artefact(Path(revision_module.PATH), revision_module.render),
        Artefact(Path(schema_docs.PATH), schema_docs.render),
        Artefact(Path(snapshot.PATH), lambda: snapshot.render(env)),
    ]
