"""No secret reaches the command line of a child process (psql, pg_dump).

Every user of a machine can read every process's argv (`ps`, /proc/<pid>/cmdline). `make
psql` runs with a URL carrying a password and an `sslpassword`, for a role that must
authenticate; while psql runs a query, the command lines of the process and all its
descendants are read: no four-character fragment of either secret is there, and psql
did connect as that role. `pg_dump` (schema.sql) is spied on the same way.
"""

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from dbtools.consume import snapshot
from dbtools.core.paths import REPO_ROOT
from tests.harness import clean_env
from tests.pg import create_password_role, url_string

PASSWORD = "pw Sé:cr@t/#?%"
SSL_PASSWORD = "ssl-K3y!phrase"
FRAGMENT = 4


def fragments(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe="")}
    return {form[i : i + FRAGMENT] for form in forms for i in range(len(form) - FRAGMENT + 1)}


def descendants(root: int) -> list[int]:
    """`root` and every process below it, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += frontier
    return found


def command_lines(root: int) -> list[str]:
    lines = []
    for pid in descendants(root):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if raw:  # a process that is exiting (a zombie) has no command line left
            lines.append(raw.replace(b"\0", b" ").decode(errors="replace"))
    return lines


def secret_url(server_url, role: str) -> str:
    url = server_url.set(username=role, password=PASSWORD, database=role)
    return url_string(url.update_query_dict({"sslpassword": SSL_PASSWORD}))


def test_make_psql_puts_no_secret_on_any_command_line(server_url):
    role = "pw_psql_argv"
    create_password_role(server_url, role, PASSWORD)
    env = clean_env(DATABASE_URL=secret_url(server_url, role))
    psql = subprocess.Popen(
        ["make", "-s", "psql"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert psql.stdin is not None
    psql.stdin.write("SELECT 'connected as ' || current_user, pg_sleep(3);\n")
    psql.stdin.close()
    psql.stdin = None  # written and closed: communicate() only reads
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while psql.poll() is None and time.monotonic() < deadline:
        seen += command_lines(psql.pid)
        time.sleep(0.05)
    stdout, stderr = psql.communicate(timeout=60)

    assert psql.returncode == 0, stderr
    assert f"connected as {role}" in stdout  # the password did reach psql
    assert any(line.split()[0].endswith("/psql") for line in seen), seen  # psql was seen
    leaked = {
        f for f in fragments(PASSWORD) | fragments(SSL_PASSWORD) for line in seen if f in line
    }
    assert not leaked, (leaked, [line for line in seen if any(f in line for f in leaked)])
    assert not {f for f in fragments(PASSWORD) if f in stdout + stderr}


def test_pg_dump_gets_no_secret_on_its_command_line(server_url, monkeypatch):
    role = "pw_dump_argv"
    create_password_role(server_url, role, PASSWORD)
    from sqlalchemy.engine import make_url

    url = make_url(secret_url(server_url, role))
    argvs: list[list[str]] = []
    real_run = subprocess.run

    def spy(args, *a, **kw):  # records the command line, then runs it for real
        argvs.append([str(x) for x in args])
        return real_run(args, *a, **kw)

    monkeypatch.setattr(snapshot.subprocess, "run", spy)
    dump = snapshot.pg_dump(url)

    assert "PostgreSQL database dump" in dump  # pg_dump connected with the password
    [argv] = argvs
    line = " ".join(argv)
    assert not {f for f in fragments(PASSWORD) | fragments(SSL_PASSWORD) if f in line}, line
    assert os.path.basename(argv[0]) == "pg_dump"
