""".env is read once, literally, and a file or line that cannot be read is refused.

A `.env` that was not UTF-8 gave a 73-line traceback, an unreadable one 84 lines (the
error handler read it again); an unbalanced quote in DATABASE_URL was skipped with a
warning and the embedded server started instead; `${X}` in a password was interpolated.
Each case runs in a repository copy with its own `.env`, against a database of the test
server named in the process environment, which must stay untouched.
"""

import uuid
from urllib.parse import quote

import pytest

from tests.harness import clean_env
from tests.pg import create_password_role, url_string
from tests.repo_copy import copy_repo
from tests.runs import cli_env, engine_for, error_line, run, state, versions

SECRET = "Zq9$kw Vx7"


def with_dotenv(tmp_path, content: bytes | None):
    root = copy_repo(tmp_path)
    env_file = root / ".env"
    env_file.unlink()
    if content is None:
        env_file.mkdir()  # unreadable as a file (the suite runs as root: chmod would not do)
    else:
        env_file.write_bytes(content)
    return root


CASES = [
    (
        "not-utf8",
        b"MIGRATION_LOCK_TIMEOUT=5s\nDATABASE_URL=postgresql://u:"
        + SECRET.encode()
        + b"\xff@h/db\n",
        "error: .env is not UTF-8 text (line 2): save it as UTF-8",
    ),
    ("unreadable", None, "error: .env cannot be read (Is a directory): fix its permissions"),
    (
        "unbalanced-quote",
        f'# comment\nMIGRATION_LOCK_TIMEOUT=5s\nDATABASE_URL="postgresql://u:{SECRET}@h/db\n'.encode(),
        "error: .env line 3 cannot be parsed (an unbalanced quote or a line that is not "
        "NAME=value): fix that line; nothing was run",
    ),
    (
        "no-equals",
        b"# comment\n\nDATABASE_URL\nMIGRATION_LOCK_TIMEOUT=5s\n",
        "error: .env line 3 has no `=`: write NAME=value (NAME= for an empty value); nothing "
        "was run",
    ),
    (
        "quoted-name",
        f'"DATABASE_URL"=postgresql://u:{SECRET}@h/db\n'.encode(),
        "error: .env line 1 has an invalid name (letters, digits and _ only, not starting with "
        "a digit, unquoted): fix that line; nothing was run",
    ),
]


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_dotenv_that_cannot_be_read_is_one_line(
    tmp_path, database_url, engine, content, expected
):
    root = with_dotenv(tmp_path, content)
    before = state(engine)

    result = run(root, ["upgrade", "head"], cli_env(database_url))

    assert result.returncode == 1
    assert error_line(result.stderr) == expected
    for fragment in (SECRET[i : i + 4] for i in range(len(SECRET) - 3)):
        assert fragment not in result.stderr + result.stdout
    assert state(engine) == before
    assert not (root / ".pgdata").exists(), "no embedded server may start instead"


def test_dotenv_values_are_taken_literally(tmp_path, server_url):
    name = f"pw_{uuid.uuid4().hex[:10]}"
    password = "pa$word${X}$(id)"
    create_password_role(server_url, name, password)
    url = server_url.set(username=name, password=password, database=name)
    # Written as a user would: `$`, `{`, `(` need no percent-encoding in a URL.
    written = url_string(url).replace(quote(password, safe=""), password)
    assert password in written
    root = with_dotenv(tmp_path, f"DATABASE_URL={written}\n".encode())

    result = run(root, ["upgrade", "head"], clean_env(X="interpolated"))

    assert result.returncode == 0, result.stderr
    assert password not in result.stderr + result.stdout
    engine = engine_for(url)
    assert versions(engine)
    engine.dispose()
