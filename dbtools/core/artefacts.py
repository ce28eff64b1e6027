"""A generated, committed artefact: a path and the function that renders its whole text.

Renders are deterministic (no dates, versions or random tokens), so `git diff` after
`make generate` is empty on `main`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dbtools.core.paths import REPO_ROOT


@dataclass(frozen=True)
class Artefact:
    path: Path  # relative to the repository root
    render: Callable[[], str]
    # Proof, without rendering, that the committed text is what `render` would return
    # (a recorded fingerprint that still holds); None: render to know.
    fresh: Callable[[], bool] | None = None

    def is_known_fresh(self) -> bool:
        return self.fresh is not None and self.fresh()

    def write(self) -> bool:
        """Write the rendered text if it changed; whether it did."""
        if self.is_known_fresh():
            return False
        target = REPO_ROOT / self.path
        text = self.render()
        if target.exists() and target.read_text() == text:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return True

    def is_stale(self) -> bool:
        """Whether the committed text differs from what `write` would write."""
        if self.is_known_fresh():
            return False
        target = REPO_ROOT / self.path
        return not target.exists() or target.read_text() != self.render()
