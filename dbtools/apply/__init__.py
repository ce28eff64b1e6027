"""The upgrade/downgrade runtime: locks, timeouts, progress, failures, retries."""
