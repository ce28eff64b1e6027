"""What the reliability tests measured, printed at the end of the run.

Tests do not assert timings (those belong to `make bench`); they record what they saw
here, and docs/reliability.md quotes the figures. Registered from conftest.py. Under
pytest-xdist each worker hands its figures to the controller, which prints them all.
"""

import pytest

_FIGURES: list[tuple[str, str]] = []


@pytest.fixture
def figure():
    """`figure("blocked run waited", "2.1 s")` records one measured figure."""

    def record(name: str, value: str) -> None:
        _FIGURES.append((name, value))

    return record


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand the figures to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = list(_FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """On the xdist controller: collect what a worker measured."""
    _FIGURES.extend(tuple(f) for f in getattr(node, "workeroutput", {}).get("figures", []))


def pytest_terminal_summary(terminalreporter) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    width = max(len(name) for name, _ in _FIGURES)
    for name, value in _FIGURES:
        terminalreporter.write_line(f"{name:<{width}}  {value}")
