"""``GET /v1/thumbnail?id=<document id>``: a small PNG of an image or PDF-page document of the served index.

The search page shows these beside image and page hits. The route takes a *document id*, never a
path: the file it reads is the one the index's own record names (``meta["image"]`` or
``meta["pdf"]`` + ``meta["page"]``, written by ``index build``), so a client can make it read
nothing else; an id the index does not hold, or a text document, is a 404 in the API's error
shape. The picture is decoded within the usual image bounds (a bomb or a corrupt file is a 4xx),
PDF pages are rendered by the same renderer as indexing (at a lower resolution), and the answer is
downscaled server-side to at most ``THUMBNAIL_PX`` on its longer side. Like every ``/v1`` route it
needs the API key when one is set (the page fetches it with the key and shows it as a blob).

Documents are looked up in the embedded index's records; a hit that ``/v1/retrieve`` just
returned is remembered too (``RecentHits``), so stores without a by-id lookup (Qdrant,
pgvector) get thumbnails for the hits the page shows.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from threading import Lock

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from .errors import APIError
from .openapi import ERROR_RESPONSES

router = APIRouter()

THUMBNAIL_PATH = "/v1/thumbnail"
THUMBNAIL_PX = 256  # longer side, pixels
THUMBNAIL_DPI = 36  # a page rendered at this is ~300 px tall for A4: enough for 256 px, cheap
RECENT_HITS = 4096


class RecentHits:
    """The ``meta`` of the last ``RECENT_HITS`` media hits returned by /v1/retrieve, by document id."""

    def __init__(self, size: int = RECENT_HITS):
        self.size = size
        self._metas: OrderedDict[str, dict] = OrderedDict()
        self._lock = Lock()

    def remember(self, hits) -> None:
        with self._lock:
            for h in hits:
                meta = getattr(h, "meta", None) or {}
                if "image" in meta or "pdf" in meta:
                    self._metas[h.id] = meta
                    self._metas.move_to_end(h.id)
            while len(self._metas) > self.size:
                self._metas.popitem(last=False)

    def get(self, doc_id: str) -> dict | None:
        with self._lock:
            return self._metas.get(doc_id)


def document_meta(store, recent: RecentHits, doc_id: str) -> dict | None:
    """The stored ``meta`` of ``doc_id`` in ``store`` (or a recent hit of it), or None."""
    chunks = getattr(store, "chunks", None)
    if callable(chunks):
        records = chunks(doc_id)
        if records:
            return records[0].get("meta") or {}
    return recent.get(doc_id)


def thumbnail_png(meta: dict, px: int = THUMBNAIL_PX) -> bytes:
    """A PNG of at most ``px`` on its longer side from a media document's ``meta``; ``ValueError`` if unreadable."""
    from ..data.media import DEFAULT_IMAGE_LIMITS, open_image

    if "pdf" in meta:
        from ..data.pages import pdf_pages

        page = int(meta["page"])
        (item,) = pdf_pages(meta["pdf"], dpi=THUMBNAIL_DPI, pages=range(page - 1, page))
        image = item.images[0]
    else:
        image = open_image(meta["image"], DEFAULT_IMAGE_LIMITS)  # the index's file or data: URL, bounded
    image = image.convert("RGB") if image.mode not in ("RGB", "RGBA", "L") else image
    image.thumbnail((px, px))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


@router.get(THUMBNAIL_PATH, responses=ERROR_RESPONSES)
async def thumbnail(request: Request, id: str) -> Response:  # "id": the query parameter's public name
    state = request.app.state.q3
    if state.retriever is None:
        raise APIError(503, "no index loaded: start the server with --index PATH to get thumbnails", code="no_index")
    meta = await run_in_threadpool(document_meta, state.retriever.index, state.recent_hits, id)
    if meta is None:
        raise APIError(404, f"document {id!r} is not in the served index", param="id", code="document_not_found")
    if "image" not in meta and "pdf" not in meta:
        raise APIError(404, f"document {id!r} is a text document; thumbnails exist for image and PDF-page documents",
                       param="id", code="no_thumbnail")
    try:
        png = await run_in_threadpool(thumbnail_png, meta)
    except (ValueError, OSError) as e:  # a file changed or removed since indexing, or not an image any more
        raise APIError(404, f"document {id!r}: its image cannot be read now ({str(e).splitlines()[0][:120]})",
                       param="id", code="thumbnail_unavailable") from None
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300",
                                                          "X-Content-Type-Options": "nosniff"})
