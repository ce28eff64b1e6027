"""Promise 6: the suite runs on each supported PostgreSQL (`make test-matrix`: 16 and 18).

By default the suite starts the embedded server of TEST_POSTGRES_VERSION (default 18);
TEST_DATABASE_URL points it at any other server instead. This test states which server
the run used, so a matrix log shows each version really ran.
"""

import os

from sqlalchemy import text

from dbtools import devserver
from tests.pg import given_test_server


def test_the_suite_runs_on_the_server_it_was_asked_for(engine, figure):
    with engine.connect() as conn:
        version_num = int(conn.execute(text("SHOW server_version_num")).scalar())
        version = conn.execute(text("SHOW server_version")).scalar()
    if given_test_server() is None:
        wanted = int(os.environ.get("TEST_POSTGRES_VERSION", devserver.DEFAULT_VERSION))
        assert version_num // 10000 == wanted
    figure("PostgreSQL server", version)
