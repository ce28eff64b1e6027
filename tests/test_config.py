"""Configuration rules: where DATABASE_URL comes from and which forms are accepted."""

import pytest

from dbtools.core import secrets, settings
from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT
from schema.session import UnsupportedURLError, normalise_url


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://u:p@db.example:5432/app",
        "postgres://u:p@db.example:5432/app",
        "postgresql+psycopg2://u:p@db.example:5432/app",
    ],
)
def test_accepted_forms_all_run_on_psycopg2(raw):
    url = normalise_url(raw)
    assert url.drivername == "postgresql+psycopg2"
    assert (url.host, url.port, url.database, url.username) == ("db.example", 5432, "app", "u")


@pytest.mark.parametrize(
    "raw",
    [
        "mysql://u:p@h/db",
        "sqlite:///x.db",
        "postgresql+psycopg://u:p@h/db",
        "postgresql+asyncpg://u:p@h/db",
        "not a url",
    ],
)
def test_other_dialects_are_refused_naming_the_accepted_forms(raw):
    with pytest.raises(UnsupportedURLError) as excinfo:
        normalise_url(raw)
    assert "postgresql://, postgres://, postgresql+psycopg2://" in str(excinfo.value)


def test_percent_encoded_password_is_decoded_not_interpolated():
    url = normalise_url("postgresql://u:p%25a%40b%3Ac%2Fd%23e%20f%C3%A9@h/db")
    assert url.password == "p%a@b:c/d#e fé"


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgresql://from-file/db\nMIGRATION_LOCK_TIMEOUT=7s\n")
    monkeypatch.setattr(settings, "ENV_FILE", env_file)
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/db")

    values = settings.load()

    assert values["DATABASE_URL"] == "postgresql://from-env/db"
    assert values["MIGRATION_LOCK_TIMEOUT"] == "7s"


def test_dotenv_is_read_from_the_repository_root_whatever_the_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MIGRATION_LOCK_TIMEOUT=99s\n")  # must be ignored
    monkeypatch.delenv("MIGRATION_LOCK_TIMEOUT", raising=False)
    committed = (REPO_ROOT / ".env").read_text()
    assert "\nMIGRATION_LOCK_TIMEOUT=5s\n" in committed

    # Present only if the repository's .env was read; 5s, not 99s, if it was that one.
    assert settings.load()["MIGRATION_LOCK_TIMEOUT"] == "5s"


def test_unset_url_means_the_embedded_server_except_in_ci():
    assert settings.configured_url({"DATABASE_URL": ""}) is None
    assert settings.configured_url({}) is None
    with pytest.raises(UserError, match="CI is true: a pipeline must name its database"):
        settings.configured_url({"CI": "true"})


def test_timeouts_have_documented_defaults_and_can_be_overridden():
    assert settings.timeouts({}) == settings.Timeouts(lock="5s", statement="10min")
    custom = settings.timeouts(
        {"MIGRATION_LOCK_TIMEOUT": "250ms", "MIGRATION_STATEMENT_TIMEOUT": "1h"}
    )
    assert custom.sql() == ["SET lock_timeout = '250ms';", "SET statement_timeout = '1h';"]
    with pytest.raises(UserError, match="MIGRATION_LOCK_TIMEOUT"):
        settings.timeouts({"MIGRATION_LOCK_TIMEOUT": "5s; DROP TABLE t"})


def test_steps_outside_a_transaction_have_their_own_statement_timeout():
    assert settings.timeouts({}).concurrent == "2h"
    custom = settings.timeouts({"MIGRATION_CONCURRENT_STATEMENT_TIMEOUT": "30min"})
    assert (custom.statement, custom.concurrent) == ("10min", "30min")
    with pytest.raises(UserError, match="MIGRATION_CONCURRENT_STATEMENT_TIMEOUT must be a dur"):
        settings.timeouts({"MIGRATION_CONCURRENT_STATEMENT_TIMEOUT": "forever"})


def test_masking_hides_every_form_of_the_password():
    url = normalise_url("postgresql://u:p%25a%40b@h/db")
    assert secrets.masked(url) == "postgresql+psycopg2://u:***@h/db"
    text = "failed for p%a@b and p%25a%40b"
    assert secrets.mask_secret(text, url) == "failed for *** and ***"
