"""The plan of a run, from what was asked, and which step of it is running.

The plan comes from the command: `upgrade` or `downgrade` and its revision argument as
typed (`Request`), resolved by Alembic's own `ScriptDirectory.iterate_revisions` exactly
as `alembic.command.upgrade` / `downgrade` resolve it, so every argument Alembic accepts
(`head`, `heads`, `base`, `+N`, `-N`, `<rev>+N`, `<rev>-N`, unique prefixes, branch labels)
means the same here. Nothing parses the argument. Alembic then reports each finished step
to `on_version_apply` (its `MigrationInfo`); the step after the last one reported is the
one running.
"""

import re
import time
from dataclasses import dataclass
from typing import Any

from alembic.script import Script, ScriptDirectory
from alembic.script.revision import (
    MultipleHeads,
    RangeNotAncestorError,
    ResolutionError,
    RevisionError,
)

from dbtools.core.chain import several_heads
from dbtools.core.errors import UserError
from dbtools.core.options import Request

_RELATIVE = re.compile(r"Relative revision ([+-])(\d+) didn't produce")


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


def plan(script: ScriptDirectory, request: Request, heads: tuple[str, ...]) -> list[Step]:
    """The steps Alembic runs for `request` on a database at `heads`, in order.

    The same calls as Alembic's `ScriptDirectory._upgrade_revs` / `_downgrade_revs`,
    through the public `iterate_revisions`. An argument Alembic would refuse is a
    `UserError` in the user's terms.
    """
    upgrade = request.command == "upgrade"
    try:
        if upgrade:
            found = script.iterate_revisions(request.revision, heads, implicit_base=True)
            scripts = list(reversed(list(found)))
        else:
            found = script.iterate_revisions(heads, request.revision, select_for_downgrade=True)
            scripts = list(found)
    except RevisionError as exc:
        raise refused(exc, request, heads) from None
    return [Step(s, upgrade) for s in scripts]


def refused(exc: RevisionError, request: Request, heads: tuple[str, ...]) -> UserError:
    """Alembic's complaint about the revision argument, as one line; nothing was run."""
    rev = request.revision
    at = ", ".join(heads) or "base (no revision)"
    if isinstance(exc, MultipleHeads):
        return UserError(f"{several_heads(list(exc.heads))}; nothing was applied")
    if isinstance(exc, ResolutionError):
        return UserError(
            f"unknown revision {rev!r}: REV takes a revision id (or a unique prefix), "
            "head, base, or a relative step such as -1; make history lists the revisions"
        )
    if isinstance(exc, RangeNotAncestorError):
        return UserError(
            f"cannot {request.command} to {rev!r} from {at}: it is not "
            f"{'above' if request.command == 'upgrade' else 'below'} where the database is "
            f"(make current shows where it is); nothing was run"
        )
    relative = _RELATIVE.search(str(exc))  # a relative step past either end of the chain
    if relative and (relative[1] == "-") == (request.command == "downgrade"):
        steps = relative[2]
        if request.command == "downgrade":
            return UserError(
                f"cannot downgrade {steps} step(s): that goes below base (make current shows "
                "where the database is); make downgrade REV=base reverts everything"
            )
        return UserError(
            f"cannot upgrade {steps} step(s) from {at}: fewer revisions than that are above "
            "it (make history lists them); make upgrade applies all of them; nothing was run"
        )
    return UserError(f"cannot {request.command} to {rev!r} from {at}: {exc}; nothing was run")


class Progress:
    """Where a run is in its plan, and since when the current step runs."""

    def __init__(self, steps: list[Step] | None) -> None:
        self.steps = steps  # None: nobody said what was asked (a caller without a Request)
        # Each step's place in the plan, by revision id (looked up once per finished step).
        self.places = {s.script.revision: n for n, s in enumerate(steps or [])}
        self.done = 0
        self.started = time.monotonic()

    def advanced(self, info: Any) -> int:
        """Alembic finished a step (its `MigrationInfo`); its duration in milliseconds."""
        if self.steps is not None:
            finished = info.up_revision_id  # the revision applied, or reverted
            place = self.places.get(finished)
            self.done = place + 1 if place is not None else self.done + 1
        elapsed_ms = round((time.monotonic() - self.started) * 1000)
        self.started = time.monotonic()
        return elapsed_ms

    def running(self) -> Step | None:
        """The step under way now; None when none is left or the plan is not known."""
        if self.steps is None or self.done >= len(self.steps):
            return None
        return self.steps[self.done]

    @property
    def upgrade(self) -> bool | None:
        """The run's direction: True up, False down, None when it has nothing to run or
        nobody said what was asked."""
        return self.steps[0].upgrade if self.steps else None

    def has_work(self) -> bool | None:
        """Whether the run will apply anything (None: not known)."""
        return None if self.steps is None else bool(self.steps)
