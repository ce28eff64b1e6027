"""`python -m bench [--quick]`: run the benchmarks, write the report and its charts.

The full run rewrites the committed BENCHMARKS.md and docs/bench/. The quick run writes
to build/bench/ (git-ignored) unless told otherwise: its small figures only show that the
harness runs, and must not replace the committed ones.
"""

import argparse
import atexit
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import chain, charts, history, noop, report, stall, testcost, verify
from bench.common import FIGURES, FULL, QUICK, Server, Settings, start_server
from dbtools.core.errors import UserError, describe, fail
from dbtools.core.paths import REPO_ROOT


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small table, fewer runs (< 2 minutes)")
    p.add_argument("--rows", type=int, help="rows in each table the stall benchmark loads")
    p.add_argument("--runs", type=int, help="runs of the no-op and test-database figures")
    p.add_argument("--stall-runs", type=int, help="runs of each stall scenario")
    p.add_argument("--chains", help="synthetic chain lengths, e.g. 50,200,500")
    p.add_argument("--chain-runs", type=int, help="runs of each chain length")
    p.add_argument("--test-runs", type=int, help="runs of `make test` (0 skips it)")
    p.add_argument("--before", type=float, help="seconds of load before a revision")
    p.add_argument("--after", type=float, help="seconds of load after a revision")
    p.add_argument("--only", help=f"comma-separated figures out of {','.join(FIGURES)}")
    p.add_argument("--out", type=Path, help="the report (default: see the module docstring)")
    p.add_argument("--assets", type=Path, help="folder for the charts and the raw JSON")
    p.add_argument(
        "--keep",
        type=Path,
        help="with --only: a results.json whose other figures (and charts) the report keeps, "
        "each with the date and load it was measured at",
    )
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    s = QUICK if args.quick else FULL
    overrides: dict[str, Any] = {
        "rows": args.rows,
        "runs": args.runs,
        "stall_runs": args.stall_runs,
        "chain_runs": args.chain_runs,
        "test_runs": args.test_runs,
        "before_seconds": args.before,
        "after_seconds": args.after,
    }
    if args.chains:
        try:
            overrides["chain_lengths"] = tuple(int(n) for n in args.chains.split(","))
        except ValueError:
            raise UserError(
                f"--chains takes lengths such as 50,200,500, got {args.chains!r}"
            ) from None
    if args.only:
        only = tuple(f.strip() for f in args.only.split(","))
        unknown = set(only) - set(FIGURES)
        if unknown:
            raise UserError(
                f"unknown figure(s) {sorted(unknown)}; choose from {', '.join(FIGURES)}"
            )
        overrides["only"] = only
    return replace(s, **{k: v for k, v in overrides.items() if v is not None})


def destinations(args: argparse.Namespace) -> tuple[Path, Path]:
    """Where the report and its assets go: committed for the full run, build/ for quick."""
    if args.quick:
        out, assets = REPO_ROOT / "build" / "bench" / "BENCHMARKS.md", REPO_ROOT / "build" / "bench"
    else:
        out, assets = REPO_ROOT / "BENCHMARKS.md", REPO_ROOT / "docs" / "bench"
    out = (args.out or out).resolve()
    assets = (args.assets or (args.out.parent if args.out else assets)).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    return out, assets


def machine(server: Server) -> dict[str, Any]:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "loadavg": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "postgres": server.version(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run_figures(settings: Settings, workdir: Path) -> dict[str, Any]:
    server = start_server(workdir / "data", settings.pg_version)
    head = chain.shipped_revisions()[-1].revision
    results: dict[str, Any] = {"settings": asdict(settings), "machine": machine(server)}
    steps = {
        "stall": lambda: stall.measure(server, settings, workdir / "stall"),
        "chain": lambda: chain.measure(server, settings, workdir / "chain"),
        "noop": lambda: noop.measure(server, settings, head),
        "testcost": lambda: testcost.measure(server, settings, head),
        "verify": lambda: verify.measure(server, settings, head),
        "history": lambda: history.measure(server, settings, workdir / "history"),
    }
    for name in settings.only:
        started = time.perf_counter()
        progress(f"{name} ...")
        # The load on the machine as each figure starts: shown beside it in the report.
        results.setdefault("loadavg", {})[name] = history.loadavg()
        results[name] = steps[name]()
        elapsed = time.perf_counter() - started
        results.setdefault("seconds", {})[name] = round(elapsed, 1)
        results.setdefault("measured_at", {})[name] = now()
        progress(f"{name} done in {elapsed:.0f} s")
    results["finished"] = now()
    return results


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def kept(results: dict[str, Any], earlier: dict[str, Any]) -> dict[str, Any]:
    """`results` plus the figures of `earlier` this run did not measure, each with the
    load, duration and date of the run that measured it."""
    merged = json.loads(json.dumps(results))
    for name in FIGURES:
        if name in merged or name not in earlier:
            continue
        merged[name] = earlier[name]
        for key in ("loadavg", "seconds"):
            if name in earlier.get(key, {}):
                merged.setdefault(key, {})[name] = earlier[key][name]
        when = earlier.get("measured_at", {}).get(name, earlier.get("finished"))
        merged.setdefault("measured_at", {})[name] = when
        merged.setdefault("kept", []).append(name)
    return merged


def write_outputs(results: dict[str, Any], out: Path, assets: Path) -> None:
    assets.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, Path] = {}
    measured = set(results["settings"]["only"])
    # A kept figure keeps its chart: the stall's timelines are not in results.json.
    for name in set(results.get("kept", [])) & {"chain", "stall"}:
        if (assets / f"{name}.png").exists():
            drawn[name] = assets / f"{name}.png"
    if "chain" in measured:
        drawn["chain"] = charts.chain_chart(results["chain"], assets / "chain.png")
    if "stall" in measured:
        drawn["stall"] = charts.stall_chart(results["stall"], assets / "stall.png")
    links = {k: os.path.relpath(v, out.parent) for k, v in drawn.items()}
    raw = assets / "results.json"
    raw.write_text(json.dumps(without_timelines(results), indent=1, sort_keys=True) + "\n")
    text = report.render(results, links).replace(
        "(docs/bench/results.json)", f"({os.path.relpath(raw, out.parent)})"
    )
    out.write_text(text)


def without_timelines(results: dict[str, Any]) -> dict[str, Any]:
    """The raw figures minus the per-transaction points (thousands of them; the chart has them)."""
    copy = json.loads(json.dumps(results))
    for scenario in copy.get("stall", {}).get("scenarios", []):
        scenario.pop("timeline", None)
    return copy


def interrupt_on_sigterm() -> None:
    """SIGTERM (a timeout, a cancelled job) ends a run as Ctrl-C does: the benchmark's
    server is stopped and its data deleted at exit, which a process ended by the default
    handler never reaches (its server outlived it)."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupt_on_sigterm()
    try:
        settings = settings_from(args)
        workdir = Path(tempfile.mkdtemp(prefix="bench-"))
        # Registered before the server starts, so it runs after the server has stopped.
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        out, assets = destinations(args)
        earlier = json.loads(args.keep.read_text()) if args.keep else None
        results = run_figures(settings, workdir)
        if earlier is not None:
            results = kept(results, earlier)
        write_outputs(results, out, assets)
    except KeyboardInterrupt:
        return fail("interrupted; nothing was written")
    except Exception as exc:
        if os.environ.get("DBTOOLS_TRACEBACK"):
            raise
        return fail(describe(exc, os.environ.get("DATABASE_URL")))
    progress(f"wrote {out} and {assets}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
