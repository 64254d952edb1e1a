"""Multimodal request bodies -> ``MediaInput``s for a Qwen3-VL model served here.

Two forms are accepted on ``/v1/embeddings``:

- the simple object form, items of ``input``: ``{"text": "...", "image": "data:image/png;base64,..."}``
  (``"images": [...]`` for several); a plain string item stays text;
- vLLM's chat form for pooling models: ``"messages": [{"role": "system", "content": "instruction"},
  {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:..."}},
  {"type": "text", "text": "..."}]}]``: one input; the system text is the instruction.

The model always sees an input's images before its text (the official Qwen3-VL prompt order),
whatever order the parts came in. On ``/v1/rerank`` a query or document may be such an object too.

Images arrive as ``data:`` URLs. Remote ``http(s)`` URLs are never fetched (no server-side
request forgery). A file path is read only when the operator started the server with
``--image-root DIR``, and only inside DIR. Bounds (``ImageLimits`` from the server settings)
hold before any pixel is decoded; a bad image is a 4xx naming the input.
"""

from __future__ import annotations

from pathlib import Path

from ..data.media import ImageLimits, MediaInput
from .errors import APIError


def image_limits(settings) -> ImageLimits:
    root = getattr(settings, "image_root", None)
    return ImageLimits(max_images=settings.max_images, max_image_pixels=settings.max_image_pixels,
                       max_total_pixels=settings.max_total_pixels, image_root=Path(root) if root else None,
                       allow_paths=bool(root))


def item_input(item, field: str, index: int | None = None) -> MediaInput | str:
    """A str, or a schema object with text/image/images, as the engine's input."""
    if isinstance(item, str):
        return item
    images = list(item.images or [])
    if item.image is not None:
        images.insert(0, item.image)
    if item.text is None and not images:
        where = field if index is None else f"{field}[{index}]"
        raise APIError(400, f"{where} has neither 'text' nor 'image'", param=field, code="empty_input")
    return MediaInput(text=item.text, images=tuple(images))


def messages_input(messages) -> tuple[MediaInput, str | None]:
    """(one input, the instruction) from vLLM-style chat messages."""
    instruction, texts, images = None, [], []
    for i, m in enumerate(messages):
        parts = [m.content] if isinstance(m.content, str) else m.content
        for p in parts:
            if isinstance(p, str) or p.type == "text":
                text = p if isinstance(p, str) else (p.text or "")
                if m.role == "system":
                    instruction = (instruction or "") + text
                else:
                    texts.append(text)
            elif m.role == "system":
                raise APIError(400, f"messages[{i}] is a system message with an image; images go in the user message",
                               param="messages", code="invalid_messages")
            else:
                images.append(p.image_url.url)
    if not texts and not images:
        raise APIError(400, "messages hold no user text or image", param="messages", code="empty_input")
    return MediaInput(text="".join(texts) if texts else None, images=tuple(images)), instruction


def require_vl(model, what: str) -> None:
    if not getattr(model, "is_vl", False):
        raise APIError(400, f"{what} holds images, and the served model is a text model; serve a Qwen3-VL model "
                            "(q3embed serve --model Qwen/Qwen3-VL-Embedding-2B) for images", param=what,
                       code="images_not_supported")
