"""Keeping passwords off the screen: every line a user sees passes through here."""

import re
from urllib.parse import quote, unquote

from sqlalchemy.engine import URL


def masked(url: URL) -> str:
    """The URL as it may be shown: the password replaced by ***."""
    return url.render_as_string(hide_password=True)


def mask_secret(text: str, url: URL | str | None) -> str:
    """`text` with any form of the URL's password removed."""
    if url is None:
        return text
    if isinstance(url, str):
        password = _raw_password(url)
        secrets = {password} if password else set()
    else:
        secrets = {url.password} if url.password else set()
    for secret in list(secrets):
        secrets.add(quote(secret, safe=""))
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _raw_password(url: str) -> str | None:
    """The password part of a URL string, found without parsing it as a database URL."""
    match = re.match(r"^[^:/]*://[^:@/]*:([^@]*)@", url)
    if not match or not match.group(1):
        return None
    return unquote(match.group(1))
