"""The PNG charts BENCHMARKS.md links: chain cost by length, writer latency over time."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI machines or servers

import matplotlib.pyplot as plt  # after use(): the backend must be chosen first

# No software version or date in the files, so a rerun with the same figures is quiet in git.
_METADATA = {"Software": None}


def chain_chart(chain: dict[str, Any], path: Path) -> Path:
    """Seconds from empty to head against number of revisions, alembic and psql."""
    points = chain["points"]
    xs = [p["revisions"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for tool, label, color in (
        ("alembic", "alembic upgrade head (new process)", "tab:blue"),
        ("psql", "psql -f offline SQL (floor)", "tab:orange"),
    ):
        med = [p[tool]["median"] for p in points]
        low = [p[tool]["median"] - p[tool]["min"] for p in points]
        high = [p[tool]["max"] - p[tool]["median"] for p in points]
        ax.errorbar(xs, med, yerr=[low, high], marker="o", capsize=3, label=label, color=color)
        fit = chain[f"{tool}_growth"]
        ax.plot(
            [0, max(xs)],
            [fit["intercept"], fit["intercept"] + fit["slope"] * max(xs)],
            linestyle=":",
            color=color,
            label=f"fit: {fit['slope'] * 1000:.2f} ms/revision + {fit['intercept']:.2f} s",
        )
    ax.set_xlabel("revisions in the chain")
    ax.set_ylabel("seconds, empty database to head (median, min-max)")
    ax.set_title("Chain cost against its floor")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def stall_chart(stall: dict[str, Any], path: Path) -> Path:
    """Writer latency over time per scenario, the revision's window shaded."""
    scenarios = stall["scenarios"]
    fig, axes = plt.subplots(
        len(scenarios), 1, figsize=(8, 2.1 * len(scenarios)), dpi=110, sharex=True, squeeze=False
    )
    for ax, scenario in zip(axes[:, 0], scenarios, strict=True):
        timeline = scenario["timeline"]["writer"]
        ax.scatter([t for t, _ in timeline], [ms for _, ms in timeline], s=2, color="tab:blue")
        start, end = scenario["window"]
        ax.axvspan(start, max(end, start + 0.05), color="tab:red", alpha=0.25, label="revision")
        ax.axhline(stall["goal_ms"], color="tab:green", linestyle="--", linewidth=1, label="50 ms")
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title(_short_title(scenario), fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel(
        "seconds since the load started, at each writer transaction's end (first run)"
    )
    fig.suptitle(f"Writer latency while each revision runs ({stall['rows']:,} rows)", fontsize=10)
    return _save(fig, path)


def _short_title(scenario: dict[str, Any]) -> str:
    title = scenario["title"].split(" (")[0].strip().rstrip(".")
    where = f" (load on {', '.join(scenario['tables'])})"
    return f"{scenario['name']}: {title}{where}"


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, metadata=_METADATA)
    plt.close(fig)
    return path
