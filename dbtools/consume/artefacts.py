"""The generated artefacts services consume: the revision chain packaged with `schema`,
`schema.sql` and `docs/schema.md`."""

from pathlib import Path

from dbtools.consume import revision_module, schema_docs, snapshot
from dbtools.core.artefacts import Artefact


def artefacts() -> list[Artefact]:
    return [
        Artefact(Path(revision_module.PATH), revision_module.render),
        Artefact(Path(schema_docs.PATH), schema_docs.render),
        Artefact(Path(snapshot.PATH), snapshot.render),
    ]
