"""Ctrl-C and SIGTERM: stop the statement on the server, stop the run, exit 130 / 143.

A process blocked in libpq does not see signals until its query returns, and a client
that simply dies leaves its backend running the statement (and holding its locks) until
the statement ends. So:

- for the whole command (`for_command()`), SIGINT and SIGTERM raise KeyboardInterrupt,
  and the command line exits 128 + the signal's number with a line saying so;
- while a migration runs on a connection (`interruptible(connection)`), the first signal
  is only recorded: psycopg2 waits through a callback that also watches a wake-up pipe,
  so a signal during a statement sends the server a cancel request at once. Whether or
  not the cancel lands (the statement may have ended already), the run stops when the
  statement in flight ends: before the next statement starts, a recorded signal raises
  `Interrupted`, unless a database error already ended the step (the cancel landed).
  The revision's transaction rolls back and the lock is released;
- a second signal is never ignored: the statement is cancelled and the process exits
  at once (128 + the signal's number), leaving the server to end the session;
- the session sets `client_connection_check_interval`, so if the client is killed
  outright (SIGKILL) the server notices within seconds and ends the backend.
"""

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg2.extensions

if TYPE_CHECKING:  # SQLAlchemy loads for a run on a connection, not for the command line
    from sqlalchemy import Connection

CHECK_INTERVAL = "2s"
# PostgreSQL 14 added client_connection_check_interval; set_config keeps older servers working.
CHECK_INTERVAL_SQL = (
    "SELECT set_config('client_connection_check_interval', :interval, false) "
    "WHERE current_setting('server_version_num')::int >= 140000"
)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """A signal stopped the run at a statement boundary."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.exit_status = exit_status(signal_name)


def exit_status(signal_name: str) -> int:
    """128 + the signal's number, as a shell reports a process the signal ended."""
    return 128 + signal.Signals[signal_name].value


@dataclass
class _Run:
    """What one interruptible run knows about signals (lives for the run only)."""

    connection: "Connection | None" = None
    wake_read: int = -1
    wake_write: int = -1
    names: list[str] = field(default_factory=list)
    delivered: bool = False  # the run has been stopped by it (an error or Interrupted)


_runs: list[_Run] = []  # the run in progress, if any (one per process)
_command_signals: list[str] = []  # the signal that interrupted the command, if one did


def received() -> str | None:
    """The name of the signal that interrupted the run in progress, if one did."""
    return _runs[-1].names[0] if _runs and _runs[-1].names else None


def _exit_now(signum: int, run: _Run | None) -> None:
    """The second signal: cancel the statement, say so, exit."""
    name = signal.Signals(signum).name
    if run is not None and run.connection is not None:
        with contextlib.suppress(Exception):  # the exit matters more than the cancel
            run.connection.connection.dbapi_connection.cancel()  # type: ignore[union-attr]
    sys.stderr.write(
        f"error: interrupted again by {name}: exiting now; the server rolls back what was "
        "running and releases the migration lock when it sees the session end\n"
    )
    sys.stderr.flush()
    os._exit(exit_status(name))


def _on_command_signal(signum: int, _frame: object) -> None:
    """For the whole command: the first signal raises KeyboardInterrupt, a second exits."""
    if _runs:
        _on_run_signal(signum, _runs[-1])
        return
    if _command_signals:
        _exit_now(signum, None)
    _command_signals.append(signal.Signals(signum).name)
    raise KeyboardInterrupt


def command_signal() -> str | None:
    """The signal that interrupted the command, if one did (SIGINT when unknown)."""
    return received() or (_command_signals[0] if _command_signals else None)


def outside_a_revision(signal_name: str, command: str) -> str:
    """The line for a signal that stopped `command` while no revision was running."""
    said = f"interrupted by {signal_name} during `make {command}`"
    if command in ("upgrade", "downgrade"):
        return (
            f"{said} while no revision was running (waiting for the migration lock, or "
            "between revisions): the revisions completed before it stay applied, nothing "
            "else was changed (make current shows where the database is): run the same "
            "command again to continue"
        )
    return f"{said}: it stopped before finishing; run it again"


def _on_run_signal(signum: int, run: _Run) -> None:
    if run.names:
        _exit_now(signum, run)
    run.names.append(signal.Signals(signum).name)
    if run.wake_write >= 0:
        os.write(run.wake_write, b"!")  # wakes the wait below, which cancels the statement


@contextmanager
def for_command() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt for the block (the command line)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _command_signals.clear()
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, _on_command_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if _command_signals:
            # Signalled: the process exits now with 130/143, its line said. Python resets
            # the handlers while it shuts down, and a further signal would turn that exit
            # status into "killed"; blocked, it changes nothing.
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


def _wait(run: _Run) -> Any:
    """psycopg2's `wait_select`, also woken by a signal: the statement is cancelled then."""

    def wait(conn: Any) -> None:
        cancelled = False
        while True:
            state = conn.poll()
            if state == psycopg2.extensions.POLL_OK:
                return
            if state == psycopg2.extensions.POLL_READ:
                readable, writable = [conn.fileno(), run.wake_read], []
            elif state == psycopg2.extensions.POLL_WRITE:
                readable, writable = [run.wake_read], [conn.fileno()]
            else:
                raise psycopg2.OperationalError(f"bad state from poll: {state}")
            ready, _, _ = select.select(readable, writable, [])
            if run.wake_read in ready:
                os.read(run.wake_read, 64)
                if not cancelled:
                    conn.cancel()
                    cancelled = True

    return wait


def _stop_if_signalled(run: _Run) -> Any:
    def check(*_args: Any, **_kw: Any) -> None:
        if run.names and not run.delivered:
            run.delivered = True
            raise Interrupted(run.names[0])

    return check


def _error_delivers(run: _Run) -> Any:
    def on_error(_context: Any) -> None:
        if run.names:
            run.delivered = True  # the cancel landed, or the step failed anyway

    return on_error


@contextmanager
def interruptible(connection: "Connection | None" = None) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM cancel the running statement server-side and
    stop the run at the next statement boundary (see the module docstring).

    Installed after connecting: the wait callback would bypass libpq's connect_timeout,
    and connecting must fail within seconds.
    """
    from sqlalchemy import event

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; nothing to do elsewhere
        return
    run = _Run(connection=connection)
    run.wake_read, run.wake_write = os.pipe()
    os.set_blocking(run.wake_read, False)
    os.set_blocking(run.wake_write, False)
    # (target, event, listener); handle_error exists only engine-wide (a run's own engine).
    listeners: list[tuple[Any, str, Any]] = []
    if connection is not None:
        listeners = [
            # Before the next statement rather than after this one: the journal records
            # the statement that just ended first (it listens after this module).
            (connection, "before_cursor_execute", _stop_if_signalled(run)),
            (connection.engine, "handle_error", _error_delivers(run)),
        ]
        for target, name, listener in listeners:
            event.listen(target, name, listener)
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    previous_wait = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(_wait(run))
    _runs.append(run)
    for signum in SIGNALS:
        signal.signal(signum, lambda signum, _frame: _on_run_signal(signum, run))
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(previous_wait)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _runs.remove(run)
        for target, name, listener in listeners:
            if event.contains(target, name, listener):
                event.remove(target, name, listener)
        os.close(run.wake_read)
        os.close(run.wake_write)
        if run.names:  # a signal the run never reached a statement boundary for
            _command_signals[:] = _command_signals or run.names[:1]
