"""Ctrl-C and SIGTERM during a migration: stop the statement on the server, then exit.

A process blocked in libpq does not see signals until its query returns, and a client
that simply dies leaves its backend running the statement (and holding its locks) until
the statement ends. So while migrations run:

- psycopg2 waits through a Python callback (`wait_select`), which turns SIGINT into a
  cancel request to the server; the statement fails with "canceling statement due to
  user request", the revision's transaction rolls back and the lock is released;
- SIGTERM (what CI runners and `timeout` send) is handled like SIGINT;
- the session sets `client_connection_check_interval`, so if the client is killed
  outright (SIGKILL) the server notices within seconds and ends the backend.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2.extensions
import psycopg2.extras

CHECK_INTERVAL = "2s"
# PostgreSQL 14 added client_connection_check_interval; set_config keeps older servers working.
CHECK_INTERVAL_SQL = (
    "SELECT set_config('client_connection_check_interval', :interval, false) "
    "WHERE current_setting('server_version_num')::int >= 140000"
)

_received: list[str] = []


def received() -> str | None:
    """The name of the signal that interrupted this run, if one did."""
    return _received[0] if _received else None


def _on_signal(signum: int, _frame: object) -> None:
    if _received:
        return  # already stopping: let the rollback and the lock release finish
    _received.append(signal.Signals(signum).name)
    raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM cancel the running statement server-side.

    Installed after connecting: psycopg2's wait callback would bypass libpq's
    connect_timeout, and connecting must fail within seconds.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; nothing to do elsewhere
        return
    _received.clear()  # a signal belongs to the run it interrupted, not to the next one
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    previous_wait = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    for signum in previous:
        signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(previous_wait)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
