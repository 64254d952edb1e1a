"""Store URLs as messages show them: every credential masked.

A store URL can carry a secret in three places: the userinfo (``postgresql://user:pw@host``),
a libpq parameter (``?password=``, ``?sslpassword=``), or an API key (``qdrant://host?api_key=``).
Every message that echoes a store URL goes through ``masked_url``, so none of them prints one.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"
# Query parameters whose value is a secret (compared without case, after URL-decoding the name).
SECRET_PARAMS = frozenset({"password", "sslpassword", "api_key", "apikey", "api-key", "token", "access_token",
                           "secret"})
# scheme://, then up to the last '@' before any '?' or '#': the userinfo, even when a password holds an
# unescaped '@' or '/' (urlsplit would then misread the host, and so would a message built on it).
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^?#]*)@")


def masked_url(url: str) -> str:
    """``url`` with the userinfo password and every secret query value replaced by ``***``; the rest
    stays as typed, so the user recognises it."""
    url = _USERINFO.sub(_masked_userinfo, url, count=1)
    base, qmark, rest = url.partition("?")
    if not qmark:
        return url
    query, hash_, fragment = rest.partition("#")
    params = []
    for param in query.split("&"):
        name, eq, value = param.partition("=")
        if eq and unquote(name).strip().lower() in SECRET_PARAMS:
            value = MASK
        params.append(f"{name}{eq}{value}")
    return f"{base}?{'&'.join(params)}{hash_}{fragment}"


def _masked_userinfo(match: re.Match) -> str:
    scheme, userinfo = match.groups()
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":" + MASK
    return f"{scheme}{userinfo}@"
