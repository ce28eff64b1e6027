"""What DBAs and reviewers read: offline SQL, lint, drift, generated artefacts, `make check`."""
