-- Running downgrade 409207e4393e -> 78593f8e1fa5, Add the age column to users.

BEGIN;

SET lock_timeout = '5s';
SET statement_timeout = '10min';
SET search_path = public;

ALTER TABLE users DROP COLUMN age;

UPDATE public.alembic_version SET version_num='78593f8e1fa5' WHERE public.alembic_version.version_num = '409207e4393e';

COMMIT;

