"""Where things are in the repository, and the Alembic configuration that points at them."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Alembic loads when its configuration is asked for, not at import
    from alembic.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = REPO_ROOT / ".env"
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
MIGRATIONS = REPO_ROOT / "migrations"
VERSIONS = MIGRATIONS / "versions"


def alembic_config(**kwargs: object) -> "Config":
    """Alembic's configuration for this repository (`alembic.ini`, no database URL in it)."""
    from alembic.config import Config

    # stdout named now (Alembic's default is the sys.stdout of import time).
    return Config(str(ALEMBIC_INI), **{"stdout": sys.stdout, **kwargs})  # type: ignore[arg-type]
