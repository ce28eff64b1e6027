"""Reviewing revisions: offline SQL, lint and waivers, drift, generated artefacts, check."""
