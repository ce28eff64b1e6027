-- Running downgrade 78593f8e1fa5 -> base, Create the users table.

BEGIN;

SET lock_timeout = '5s';
SET statement_timeout = '10min';
SET search_path = public;

DROP INDEX ix_users_name;

DROP TABLE users;

DELETE FROM public.alembic_version WHERE public.alembic_version.version_num = '78593f8e1fa5';

COMMIT;

