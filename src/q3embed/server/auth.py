"""Optional bearer-token auth, compared in constant time."""

from __future__ import annotations

import hmac


def bearer_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_authorized(authorization: str | None, api_key: str | None) -> bool:
    """True when no key is configured, or when the header carries exactly ``api_key``.

    ``hmac.compare_digest`` takes the same time wherever the first differing byte is, so the
    response time does not leak how much of a guessed key was right.
    """
    if api_key is None:
        return True
    token = bearer_token(authorization)
    if token is None:
        return False
    return hmac.compare_digest(token.encode("utf-8"), api_key.encode("utf-8"))
