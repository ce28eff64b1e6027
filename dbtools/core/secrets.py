"""Keeping passwords off the screen: every line a user sees passes through here."""

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus

if TYPE_CHECKING:  # a URL object comes from SQLAlchemy; strings need no SQLAlchemy
    from sqlalchemy.engine import URL

# Query parameters libpq reads as secrets: masked wherever a URL is shown.
SECRET_QUERY_KEYS = ("password", "sslpassword")


def masked(url: "URL") -> str:
    """The URL as it may be shown: every password (user info, query) replaced by ***."""
    # A placeholder that survives the URL's percent-encoding, then shown as ***.
    hidden = {k: "MASKED" for k in SECRET_QUERY_KEYS if k in url.query}
    shown = url.update_query_dict(hidden).render_as_string(hide_password=True)
    return re.sub(rf"\b({'|'.join(SECRET_QUERY_KEYS)})=MASKED\b", r"\1=***", shown)


def mask_secret(text: str, *urls: "URL | str | None") -> str:
    """`text` with every form of every password the URLs carry replaced by ***."""
    secrets: set[str] = set()
    for url in urls:
        secrets |= url_secrets(url)
    for secret in list(secrets):
        secrets |= {quote(secret, safe=""), quote_plus(secret, safe=""), repr(secret)[1:-1]}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def url_secrets(url: "URL | str | None") -> set[str]:
    """The passwords `url` carries: its user info and its password query parameters."""
    if url is None:
        return set()
    if not isinstance(url, str):  # a SQLAlchemy URL
        found = {url.password} if url.password else set()
        for key in SECRET_QUERY_KEYS:
            value = url.query.get(key)
            found |= {value} if isinstance(value, str) else set(value or ())
        return {s for s in found if s}
    return _raw_secrets(url)


def _raw_secrets(url: str) -> set[str]:
    """Every password-like part of a URL string, found without trusting its structure.

    A careless URL (an unencoded `@`, `#` or `/` in the password) may be split anywhere,
    so both the widest reading (up to the last `@`) and the narrowest are masked.
    """
    rest = url.split("://", 1)[1] if "://" in url else url
    found: set[str] = set()
    if "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        if ":" in userinfo:
            widest = userinfo.split(":", 1)[1]
            found |= {widest, unquote(widest), *widest.split("@")}
    query = rest.rpartition("?")[2] if "?" in rest else ""
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key.lower() in SECRET_QUERY_KEYS:
            found |= {value, unquote_plus(value)}
    return {s for s in found if s}
