"""Upgrade and downgrade at run time: lock, bookkeeping, consent, explaining failures."""
