-- Running upgrade 78593f8e1fa5 -> 409207e4393e, Add the age column to users.

BEGIN;

SET lock_timeout = '5s';
SET statement_timeout = '10min';
SET search_path = public;

-- Lint waiver: an age in years never nears 2^31
-- squawk-ignore prefer-bigint-over-int
ALTER TABLE users ADD COLUMN age INTEGER;

COMMENT ON COLUMN users.age IS 'Age in years, if the person gave it.';

UPDATE public.alembic_version SET version_num='409207e4393e' WHERE public.alembic_version.version_num = '78593f8e1fa5';

COMMIT;

