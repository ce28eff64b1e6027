-- Running downgrade 78593f8e1fa5 -> base, Create the users table.

BEGIN;

SET lock_timeout = '5s';
SET statement_timeout = '10min';

DROP INDEX ix_users_name;

DROP TABLE users;

DELETE FROM alembic_version WHERE alembic_version.version_num = '78593f8e1fa5';

COMMIT;

