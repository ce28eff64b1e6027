"""One options object per run, and `.env` read exactly once per command.

The command line reads the settings once and hands them down in the run's options
(`dbtools.core.options`); nothing below it reads `.env` again, whichever path a command
takes (applying, rendering offline SQL, checking, the verify gate before an upgrade).
"""

import pytest
from sqlalchemy.engine import URL

from dbtools import cli
from dbtools.core import settings
from tests.chain import HEAD
from tests.pg import url_string, versions


@pytest.fixture
def dotenv_reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every read of `.env` from now on, counted by wrapping the one reader."""
    reads: list[object] = []
    real = settings.read_dotenv

    def counting(path):
        reads.append(path)
        return real(path)

    monkeypatch.setattr(settings, "read_dotenv", counting)
    for name in ("MIGRATION_VERIFY", "VERIFY_FORMAT", "CI"):
        monkeypatch.delenv(name, raising=False)
    return reads


def test_upgrade_reads_dotenv_once(database_url: URL, dotenv_reads, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", url_string(database_url))
    assert cli.main(["upgrade"]) == 0
    assert versions(database_url) == [HEAD]
    assert len(dotenv_reads) == 1


def test_a_verified_upgrade_reads_dotenv_once(
    database_url: URL, server_url: URL, dotenv_reads, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", url_string(database_url))
    monkeypatch.setenv("VERIFY_SCRATCH_URL", url_string(server_url))
    monkeypatch.setenv("MIGRATION_VERIFY", "1")
    assert cli.main(["upgrade"]) == 0
    assert versions(database_url) == [HEAD]
    assert len(dotenv_reads) == 1


def test_sql_reads_dotenv_once(dotenv_reads, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/unreachable")
    assert cli.main(["sql"]) == 0
    assert f"'{HEAD}'" in capsys.readouterr().out
    assert len(dotenv_reads) == 1


def test_check_reads_dotenv_once(rendering_server: URL, dotenv_reads, capsys):
    assert cli.main(["check"]) == 0, capsys.readouterr()
    assert "check passed" in capsys.readouterr().out
    assert len(dotenv_reads) == 1
