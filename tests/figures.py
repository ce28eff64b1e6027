"""What the reliability tests measured, printed at the end of the run.

Tests do not assert timings (those belong to `make bench`); they record what they saw
here, and docs/reliability.md quotes the figures. Registered from conftest.py.
"""

import pytest

_FIGURES: list[tuple[str, str]] = []


@pytest.fixture
def figure():
    """`figure("blocked run waited", "2.1 s")` records one measured figure."""

    def record(name: str, value: str) -> None:
        _FIGURES.append((name, value))

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    width = max(len(name) for name, _ in _FIGURES)
    for name, value in _FIGURES:
        terminalreporter.write_line(f"{name:<{width}}  {value}")
