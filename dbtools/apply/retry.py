"""Retrying a run that gave up on a table lock, with back-off.

A lock timeout is usually a long transaction that will end soon. An upgrade that gave up
left the revisions before the blocked one committed, so running it again resumes there.
Off by default (MIGRATION_LOCK_RETRIES=0): a pipeline that should not wait says nothing.
"""

import logging
import time

from dbtools.apply.failures import LockTimeoutError
from dbtools.core import durations, settings

DEFAULT_RETRIES = 0
DEFAULT_DELAY = "5s"

log = logging.getLogger("alembic.env")


def retry_policy(env: settings.Env) -> tuple[int, float]:
    """(retries, first delay in seconds) from MIGRATION_LOCK_RETRIES / _RETRY_DELAY."""
    raw_retries = env.get("MIGRATION_LOCK_RETRIES", "").strip() or str(DEFAULT_RETRIES)
    raw_delay = env.get("MIGRATION_LOCK_RETRY_DELAY", "").strip() or DEFAULT_DELAY
    retries = durations.whole_number("MIGRATION_LOCK_RETRIES", raw_retries)
    return retries, durations.parse("MIGRATION_LOCK_RETRY_DELAY", raw_delay)


def after_lock_timeout(exc: LockTimeoutError, attempt: int, retries: int, delay: float) -> float:
    """The `attempt`-th run (1-based) gave up on a lock: raise when the retries are spent,
    else say so, pause `delay` seconds and return the next, doubled pause.

    The caller loops (`dbtools/apply/commands.py`): run, and on a lock timeout ask here."""
    if attempt > retries:
        if retries:
            raise LockTimeoutError(f"{exc} (gave up after {retries} retries)") from exc
        raise exc
    log.warning("Lock timeout; retry %d of %d in %.1fs: %s", attempt, retries, delay, exc)
    time.sleep(delay)
    return delay * 2
