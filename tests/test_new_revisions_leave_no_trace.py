"""pytest-alembic's `test_downgrade_leaves_no_trace`, for the revisions not released yet.

Each cycle (upgrade one revision, downgrade it, compare what autogenerate sees) costs more
as the chain grows; a released revision is immutable (migrations/RELEASED, `make check`),
so its cycle ran when it was new. The chain as a whole goes up and down in
tests/test_migrations.py.
"""

import pytest
from pytest_alembic.config import Config as AlembicTestConfig
from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace

from dbtools.core.chain import revisions
from dbtools.core.paths import REPO_ROOT
from tests.chain import RELEASED

__all__ = ["test_downgrade_leaves_no_trace"]


def newest_released_parent() -> str | None:
    """pytest-alembic cycles the revisions after `minimum_downgrade_revision`, less the
    first: the parent of the newest released revision starts the cycles right after it."""
    released = [s for s in revisions() if s.revision in RELEASED]
    if not released:
        return None
    return released[-1].down_revision or "base"


@pytest.fixture
def alembic_config() -> AlembicTestConfig:
    return AlembicTestConfig(
        config_options={"file": str(REPO_ROOT / "alembic.ini")},
        minimum_downgrade_revision=newest_released_parent(),
    )
