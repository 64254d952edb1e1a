"""``GET /``: the search page, one static HTML file with plain JavaScript (``search.html``).

The page is the same for everyone and holds no secret: it asks for the API key and keeps it in
the browser, then calls ``/v1/retrieve`` like any client. So ``/`` is served without the key.
The Content-Security-Policy allows only the page's own inline script (by hash) and same-origin
requests, so even a document text that slipped into the DOM as HTML could run nothing. Images come only
from ``blob:`` URLs the page makes itself from ``/v1/thumbnail`` answers (server/thumbnails.py).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter()

PAGE_PATH = "/"


@lru_cache(maxsize=1)
def search_page() -> tuple[str, str]:
    """(the page's HTML, its Content-Security-Policy)."""
    html = files(__package__).joinpath("search.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts)
    csp = (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; connect-src 'self'; img-src blob:; "
           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    return html, csp


@router.get(PAGE_PATH, include_in_schema=False)
@router.head(PAGE_PATH, include_in_schema=False)  # like GET, without the body (RFC 9110; link checkers use it)
async def page() -> HTMLResponse:
    html, csp = search_page()
    return HTMLResponse(html, headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
                                       "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"})
