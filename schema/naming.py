"""The naming convention: every index and constraint gets a predictable name.

Autogenerate, revisions and the database then agree on names without anyone typing them
(it is the first convention in Alembic's naming documentation). Kept apart from `Base` so
that applying revisions, which names constraints by it too, need not import the ORM.
"""

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
