"""The bookkeeping has one home (`dbtools/core/bookkeeping.py`): a version table
configured in `alembic.ini` is the one every command reads and writes, schema-qualified."""

import uuid

from dbtools.core.bookkeeping import Bookkeeping
from tests.chain import BEFORE_HEAD, HEAD
from tests.pg import query
from tests.repo_copy import copy_repo
from tests.runs import cli_env, run


def test_is_bookkeeping_is_one_predicate_for_schemas_and_tables():
    names = Bookkeeping(version_table="deploy_version", version_schema="ops")
    assert names.is_bookkeeping("table", "deploy_version", "ops")
    assert not names.is_bookkeeping("table", "deploy_version")  # public is not ops
    assert not names.is_bookkeeping("table", "alembic_version")
    assert names.is_bookkeeping("table", names.log_table, names.log_schema)
    assert names.is_bookkeeping("schema", names.log_schema)
    assert names.qualified_version == "ops.deploy_version"


def test_a_configured_version_table_is_honoured_by_every_command(tmp_path, database_url):
    repo = copy_repo(tmp_path)
    table = f"deploy_version_{uuid.uuid4().hex[:6]}"
    ini = repo / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("[alembic]\n", f"[alembic]\nversion_table = {table}\n", 1)
    )
    env = cli_env(database_url)

    def versions() -> list[str]:
        return [r[0] for r in query(database_url, f"SELECT version_num FROM public.{table}")]

    done = run(repo, ["upgrade"], env)
    assert done.returncode == 0, done.stderr
    assert versions() == [HEAD]
    assert query(database_url, "SELECT to_regclass('public.alembic_version')") == [(None,)]
    current = run(repo, ["current"], env)
    assert HEAD in current.stdout, current.stderr
    if BEFORE_HEAD is not None:
        back = run(repo, ["downgrade"], cli_env(database_url, ALLOW_DATA_LOSS="1"))
        assert back.returncode == 0, back.stderr
        assert versions() == [BEFORE_HEAD]
    audit = run(repo, ["audit"], env)
    assert audit.returncode == 0 and HEAD in audit.stdout, audit.stderr
    offline = run(repo, ["sql"], env)
    assert f"INSERT INTO public.{table} " in offline.stdout
