"""The generated artefacts services consume: the revision chain packaged with `schema`,
`schema.sql` (at the root and inside the package) and `docs/schema.md`."""

from pathlib import Path

from dbtools import revision_module, schema_docs, snapshot
from dbtools.generate import Artefact


def artefacts() -> list[Artefact]:
    return [
        Artefact(Path(revision_module.PATH), revision_module.render),
        Artefact(Path(schema_docs.PATH), schema_docs.render),
        *(Artefact(Path(path), snapshot.render) for path in snapshot.PATHS),
    ]
