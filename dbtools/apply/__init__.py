"""Applying the chain to a database: upgrade and downgrade, and the safety around a run."""
