"""The suite's child processes start from compiled bytecode, whatever the shell says.

The suite starts hundreds of processes (`python -m dbtools ...`, `make ...`), many in
copies of the repository. A shell that sets PYTHONDONTWRITEBYTECODE (this machine's does)
makes each of them compile every module it imports from this repository, and every
revision file, from source: the cost then grows with the chain and with every copy.

So the controller compiles the repository once at the start of a session, into the usual
`__pycache__` folders, as *checked-hash* bytecode: Python uses it only while the source
still hashes the same, so a test that edits a file (in a copy, within the same second,
keeping its size) never runs stale code, which timestamp-checked bytecode could. Copies
of the repository (`tests/repo_copy.py`) keep those folders.
"""

import compileall
from pathlib import Path
from py_compile import PycInvalidationMode

from dbtools.core.paths import REPO_ROOT

# Everything a test imports or runs from this repository.
COMPILED = ("dbtools", "schema", "migrations", "bench", "tests")


def compile_repository(root: Path = REPO_ROOT) -> None:
    """Write checked-hash bytecode for every module in `root`'s folders."""
    for name in COMPILED:
        if (root / name).is_dir():
            compileall.compile_dir(
                root / name, quiet=2, invalidation_mode=PycInvalidationMode.CHECKED_HASH
            )
