"""The expected catalog of a revision, kept on disk so a repeated verify needs no template.

The first verify of a revision reads the expected catalog from its template database (the
full path: SQLAlchemy, Alembic, the scratch server) and writes it here, in
`.cache/verify/` at the repository root (a folder git ignores: it holds its own
`.gitignore`). A repeated verify (`dbtools/verify/repeated.py`) reads it back instead.

One file per key, named by the key's digest. The key is everything that shapes what the
file holds: every file of `migrations/versions/`, `migrations/env.py`, `alembic.ini`, the
Python of `dbtools/` and `schema/`, the installed packages (their `.dist-info` names, so
their versions), the Python version, the compared schemas setting (VERIFY_SCHEMAS), the
scratch server (VERIFY_SCRATCH_URL with its secrets masked, or the development server
and DEV_POSTGRES_VERSION) and the verified database (DATABASE_URL as libpq reads it,
secrets left out). Inside, per recorded revision, the expected catalog and what the
report names (schemas, template). The file also keeps a digest of its own content: a
file that was cut short or changed is never read as valid. Nothing secret is written:
no password, no hash of one. The newest `KEPT` files stay; older ones are removed.

Nothing here loads SQLAlchemy or Alembic: the repeated path imports this module.
"""

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from dbtools.core import settings
from dbtools.core.paths import ALEMBIC_INI, MIGRATIONS, REPO_ROOT, VERSIONS
from dbtools.core.secrets import SECRET_QUERY_KEYS, mask_secret

CACHE_DIR = REPO_ROOT / ".cache" / "verify"
FORMAT = 1
# The URL schemes DATABASE_URL accepts (schema/session.py); libpq reads the first two.
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
_SECRET_PARAMETERS = frozenset(SECRET_QUERY_KEYS)
_SOURCES = (REPO_ROOT / "dbtools", REPO_ROOT / "schema")

Json = dict[str, Any]


def libpq_parameters(raw: str) -> dict[str, str] | None:
    """What libpq reads from the URL `raw` (psycopg2's `parse_dsn`), or None when the URL
    is not one of the accepted forms or libpq cannot read it."""
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in _SCHEMES:
        return None
    import psycopg2.extensions  # the driver the repeated path connects with anyway

    try:
        return dict(psycopg2.extensions.parse_dsn("postgresql" + raw[len(scheme) :]))
    except psycopg2.ProgrammingError:
        return None


def _url_identity(raw: str) -> Json | None:
    """A URL as the key holds it: shown with its secrets masked, and libpq's reading of
    it without them (two URLs that show alike but name different roles differ here)."""
    parameters = libpq_parameters(raw)
    if parameters is None:
        return None
    public = {k: v for k, v in sorted(parameters.items()) if k not in _SECRET_PARAMETERS}
    return {"shown": mask_secret(raw, raw), "libpq": public}


def target(env: settings.Env) -> Json | None:
    """The verified database as the key holds it; None when only the full path can say
    which it is (a URL libpq cannot read, or the development server refused under CI)."""
    raw = env.get("DATABASE_URL", "").strip()
    if raw:
        return _url_identity(raw)
    if settings.is_ci(env):
        return None  # refused by the full path, with its line
    return {"development server": str(REPO_ROOT / ".pgdata"), **_dev_version(env)}


def _dev_version(env: settings.Env) -> Json:
    return {"DEV_POSTGRES_VERSION": env.get("DEV_POSTGRES_VERSION", "").strip()}


def _scratch(env: settings.Env) -> Json | None:
    raw = env.get("VERIFY_SCRATCH_URL", "").strip()
    return _url_identity(raw) if raw else {"development server": True, **_dev_version(env)}


def _digest_files(paths: list[str]) -> str:
    """A digest of each file's path (from the repository root) and bytes, in order."""
    digest = hashlib.sha256()
    start = len(str(REPO_ROOT)) + 1
    for path in paths:
        with open(path, "rb") as handle:
            digest.update(path[start:].encode() + b"\0" + handle.read() + b"\0")
    return digest.hexdigest()


def _sources() -> list[str]:
    """The files whose content shapes the expected catalog (plain strings and os.walk:
    pathlib would cost a repeated verify more than the hashing does)."""
    versions = sorted(os.path.join(VERSIONS, n) for n in os.listdir(VERSIONS) if n.endswith(".py"))
    files = [*versions, str(MIGRATIONS / "env.py"), str(ALEMBIC_INI)]
    for root in _SOURCES:
        for folder, children, names in os.walk(root):
            children[:] = sorted(c for c in children if c != "__pycache__")
            files += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".py")]
    return files


def _installed() -> list[str]:
    """Every installed distribution with its version (`name-1.2.3.dist-info`)."""
    found: set[str] = set()
    for entry in sys.path:
        try:
            found |= {n for n in os.listdir(entry or ".") if n.endswith(".dist-info")}
        except OSError:
            continue
    return sorted(found)


def key(env: settings.Env) -> Json | None:
    """Everything that shapes the cached expected catalog; None when there is no key the
    repeated path could trust (then the full path runs)."""
    where, scratch = target(env), _scratch(env)
    if where is None or scratch is None:
        return None
    extra = sorted({s.strip() for s in env.get("VERIFY_SCHEMAS", "").split(",") if s.strip()})
    return {
        "format": FORMAT,
        "files": _digest_files(_sources()),
        "installed": _installed(),
        "python": list(sys.version_info[:3]),
        "VERIFY_SCHEMAS": extra,
        "scratch": scratch,
        "database": where,
    }


def _path(key: Json) -> Path:
    name = hashlib.sha256(_canonical(key).encode()).hexdigest()[:32]
    return CACHE_DIR / f"{name}.json"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def load(key: Json) -> Json | None:
    """The cache file for `key`: `context` and `revisions`; None when it is missing,
    unreadable, cut short, changed, or holds another key."""
    try:
        document = json.loads(_path(key).read_text())
        body = document["body"]
        if document["digest"] != _body_digest(body) or body["key"] != key:
            return None
        return body if isinstance(body["revisions"], dict) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _body_digest(body: Json) -> str:
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


def store(key: Json, context: Json, revisions: str, record: Json) -> None:
    """Keep `record` (the expected catalog of `revisions` and what the report names) for
    `key`, beside the records of other revisions; written whole, then renamed into place,
    so a reader never sees half a file."""
    previous = load(key)
    kept = previous["revisions"] if previous and previous["context"] == context else {}
    body = {"key": key, "context": context, "revisions": {**kept, revisions: record}}
    CACHE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    ignore = CACHE_DIR.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# made by make verify: nothing here is committed\n*\n")
    text = json.dumps({"digest": _body_digest(body), "body": body}, sort_keys=True)
    handle, temporary = tempfile.mkstemp(dir=CACHE_DIR, prefix=".writing-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temporary, _path(key))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _prune()


# Files kept: one per verified database and checkout state; the oldest go first.
KEPT = 32


def _prune() -> None:
    files = sorted(CACHE_DIR.glob("*.json"), key=_age)
    for path in files[:-KEPT]:
        path.unlink(missing_ok=True)


def _age(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def revisions_key(revisions: tuple[str, ...]) -> str:
    """How a set of recorded revisions names its record ("" for base)."""
    return " ".join(sorted(revisions))


def as_json(value: Any) -> Any:
    """`value` as it reads back from the cache (tuples become lists): both sides of a
    comparison go through this, so the cached and the live catalog compare alike."""
    return json.loads(json.dumps(value))


def forget(key: Json) -> None:
    """Remove the cache file for `key` (the next verify with that key takes the full path)."""
    _path(key).unlink(missing_ok=True)
