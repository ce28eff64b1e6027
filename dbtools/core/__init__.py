"""The small core every job builds on: paths, settings, the error contract, scratch databases.

Nothing here imports anything above it (apply, review, consume, verify, the CLI).
"""
