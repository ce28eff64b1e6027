-- Running downgrade 409207e4393e -> 78593f8e1fa5, Add the age column to users.

BEGIN;

SET lock_timeout = '5s';
SET statement_timeout = '10min';

ALTER TABLE users DROP COLUMN age;

UPDATE alembic_version SET version_num='78593f8e1fa5' WHERE alembic_version.version_num = '409207e4393e';

COMMIT;

