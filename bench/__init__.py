"""`make bench`: what a migration costs production and what the chain costs CI.

Each figure is measured against its physical floor in the same run, on a throwaway
PostgreSQL server from the embedded package (never the development server in `.pgdata`):

- `stall`: the longest stall writers and readers see while each shipped revision runs
  against busy tables of its own (the tables it locks, as PostgreSQL reports them, each
  loaded by pgbench), beside each safe form and the plain form it replaces;
- `chain`: `alembic upgrade` from empty against `psql` running the same offline SQL, for
  the shipped chain and synthetic chains built in a temporary copy of the repository;
- `noop`: the upgrade of a database already at head against starting Python and
  importing the same libraries;
- `testcost`: `make test`, and one migrated test database by the chain or by a template.

`report` writes BENCHMARKS.md and `charts` the PNGs it links. Figures are reported, never
asserted: nothing here fails because something was slow.
"""
