"""What services consume: `schema.sql`, the schema docs and the revision module of `schema`."""
