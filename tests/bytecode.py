"""The suite's child processes start from compiled bytecode, whatever the shell says.

The suite starts hundreds of processes (`python -m dbtools ...`, `make ...`), many in
copies of the repository. A shell that sets PYTHONDONTWRITEBYTECODE (this machine's does)
makes each of them compile every module it imports from this repository, and every
revision file, from source: the cost then grows with the chain and with every copy.

So the controller compiles the repository once at the start of a session, into the usual
`__pycache__` folders, as *checked-hash* bytecode: Python uses it only while the source
still hashes the same. Copies of the repository (`tests/repo_copy.py`) keep those folders.

And the suite itself never writes bytecode (PYTHONDONTWRITEBYTECODE for every process it
starts, whatever the shell said): Python writes *timestamp-checked* bytecode on import,
valid while the file's modification time (in whole seconds) and size are unchanged, so a
test that writes a revision file, loads it, and edits it within the same second keeping
its length would load the old code (`test_cost_follows_change` does exactly that, and
failed so in a shell without the variable).
"""

import compileall
import os
import sys
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


def never_write_bytecode() -> None:
    """This process and every process it starts read bytecode, never write it."""
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
