"""Which revision a run is on, from Alembic's public hooks only.

Alembic tells `on_version_apply` about a revision once it has run (inside its
transaction), but nobody about the revision it is starting. The chain in this
repository is linear, so the revision that is running follows from where the database
was, the direction of the run, and the revisions already reported: the next one up on
an upgrade, the current one on a downgrade.
"""

import time
from dataclasses import dataclass
from typing import Any

from alembic.runtime.environment import EnvironmentContext
from alembic.script import Script
from alembic.script.revision import RevisionError

from dbtools.core.chain import revisions


@dataclass(frozen=True)
class Step:
    """A revision being applied (upgrade) or reverted (downgrade)."""

    script: Script
    upgrade: bool

    @property
    def name(self) -> str:
        """`409207e4393e (add the age column to users)`."""
        doc = (self.script.doc or "").strip().splitlines()
        return f"{self.script.revision} ({doc[0].rstrip('.')})" if doc else self.script.revision

    @property
    def stays_at(self) -> str:
        """Where the database is left when this step rolls back."""
        if self.upgrade:
            return self.script.down_revision or "base (no revision)"
        return self.script.revision


class Progress:
    """Where a run is: the position in the chain, and since when the current step runs."""

    def __init__(self, environment: EnvironmentContext, start: tuple[str, ...]) -> None:
        self.chain = revisions(environment.script)
        self.ids = [s.revision for s in self.chain]
        self.position: str | None = start[0] if len(start) == 1 else None
        self.upgrade = self._direction(environment)
        self.started = time.monotonic()

    def advanced(self, info: Any) -> int:
        """Alembic finished a step (`MigrationInfo`); its duration in milliseconds."""
        up, downs = info.up_revision_id, info.down_revision_ids
        self.position = up if info.is_upgrade else (downs[0] if downs else None)
        elapsed_ms = round((time.monotonic() - self.started) * 1000)
        self.started = time.monotonic()
        return elapsed_ms

    def running(self) -> Step | None:
        """The step under way now; None when there is none to run or it cannot be told."""
        index = self.ids.index(self.position) if self.position in self.ids else -1
        if self.upgrade is None:
            return None
        if self.upgrade:
            following = index + 1
            return Step(self.chain[following], True) if following < len(self.chain) else None
        return Step(self.chain[index], False) if index >= 0 else None

    def _direction(self, environment: EnvironmentContext) -> bool | None:
        """Whether the run goes up (True) or down (False), from the destination argument
        and the start position; None when it is already at the destination."""
        try:
            destination = environment.get_revision_argument()
        except (KeyError, RevisionError):
            return True  # a caller that names no destination (pytest-alembic) goes up
        if isinstance(destination, tuple | list):
            destination = destination[0] if len(destination) == 1 else "heads"
        if destination is None:  # base
            return None if self.position is None else False
        destination = str(destination)
        if destination[:1] in "+-" or destination in ("head", "heads"):
            return destination[:1] != "-"
        try:
            target = environment.script.get_revision(destination)
        except RevisionError:
            return True
        if target is None or target.revision not in self.ids:
            return True
        here = self.ids.index(self.position) if self.position in self.ids else -1
        there = self.ids.index(target.revision)
        return None if there == here else there > here
