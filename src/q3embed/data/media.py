"""Multimodal inputs and bounded image decoding: the one place an untrusted image is opened.

An input to a Qwen3-VL model is text, one or more images, or both (``MediaInput``). An image may
be given as

- a file path (``str`` or ``Path``), read only under ``ImageLimits.image_root`` when one is set;
- ``bytes`` of an encoded file;
- a ``PIL.Image.Image`` (already decoded: only its size is checked);
- a ``data:image/<type>;base64,...`` URL.

Remote ``http(s)://`` URLs are never fetched (no server-side request forgery), and SVG is refused
(a vector image would need a renderer). Every failure raises ``ImageInputError`` naming the input
(``inputs[3].images[0] ...``) and what is accepted; nothing is silently replaced (the official
Qwen3-VL code embeds the text "NULL" in place of an image it cannot read).

Bounds hold before pixels are decoded: the encoded size (``max_image_bytes``), the format (from
the file's own header, not its name), the declared pixel count (``max_image_pixels``, read from the
header, so a 30,000 x 30,000 "decompression bomb" is refused without allocating it), the number of
images per call (``max_images``) and their total pixels (``max_total_pixels``). A truncated or
corrupt file fails while decoding and is named. GIF and other animated formats give their first
frame.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..errors import InputLimitError

#: Pillow format names accepted, in the order docs list them.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
#: data: URL MIME types accepted, and the Pillow format each must decode as.
ACCEPTED_MIME = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/webp": "WEBP",
                 "image/gif": "GIF", "image/bmp": "BMP", "image/tiff": "TIFF"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")

ImageRef = Union[str, Path, bytes, Any]  # Any: PIL.Image.Image, not imported at module load


@dataclass(frozen=True)
class ImageLimits:
    """What image decoding accepts. Defaults suit a library call; the server passes its own.

    ``max_image_pixels``: width x height of one source image as its header declares it (the
    model itself sees at most ``max_pixels`` after resizing, runtime/vision.py). ``max_images`` and
    ``max_total_pixels``: per call. ``image_root``: file paths are read only inside this folder
    (None: any readable path, the library default; the server accepts no paths without one).
    ``allow_paths=False`` refuses file paths entirely.
    """

    max_image_pixels: int = 64_000_000
    max_image_bytes: int = 64 * 1024 * 1024
    max_images: int = 256
    max_total_pixels: int = 512_000_000
    formats: tuple[str, ...] = ACCEPTED_FORMATS
    image_root: Path | None = None
    allow_paths: bool = True


DEFAULT_IMAGE_LIMITS = ImageLimits()


class ImageInputError(InputLimitError):
    """An image that cannot be used; the message names the input and what is accepted (HTTP 400/413)."""

    def __init__(self, detail: str, *, index: int | None, code: str = "invalid_image", status: int = 400,
                 field: str = "inputs"):
        super().__init__(detail, index=index, code=code, status=status, field=field)


@dataclass(frozen=True)
class MediaInput:
    """One model input: optional text and zero or more images (at least one of the two).

    ``source``/``page``: where it came from (a file, a PDF page), kept for search hits.
    The model sees the images first, then the text (the official Qwen3-VL prompt order).
    """

    text: str | None = None
    images: tuple = ()
    source: str | None = None
    page: int | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.text is not None and not isinstance(self.text, str):
            raise TypeError(f"text is {type(self.text).__name__}; it must be a str or None")
        if not isinstance(self.images, tuple):
            object.__setattr__(self, "images", tuple(self.images))

    @property
    def is_empty(self) -> bool:
        return not self.text and not self.images


def as_media_input(x: Any, index: int | None = None, field_name: str = "inputs") -> MediaInput:
    """A ``MediaInput`` from what callers pass: a str (text), an image (path-like ``Path``, bytes,
    PIL image), a dict ``{"text": ..., "image": ... | "images": [...]}``, or a ``MediaInput``."""
    if isinstance(x, MediaInput):
        return x
    if isinstance(x, str):
        return MediaInput(text=x)
    if isinstance(x, dict):
        unknown = set(x) - {"text", "image", "images", "source", "page"}
        if unknown:
            raise ImageInputError(f"has unknown key(s) {sorted(unknown)}; accepted: text, image, images",
                                  index=index, field=field_name)
        images = x.get("images") or ()
        if x.get("image") is not None:
            images = (x["image"], *images)
        if isinstance(images, (str, bytes)):
            images = (images,)
        text = x.get("text")
        if text is not None and not isinstance(text, str):
            raise ImageInputError(f"text is {type(text).__name__}; it must be a string", index=index,
                                  field=field_name)
        return MediaInput(text=text, images=tuple(images), source=x.get("source"), page=x.get("page"))
    if isinstance(x, (bytes, bytearray, Path)) or _is_pil(x):
        return MediaInput(images=(x,))
    raise ImageInputError(f"is a {type(x).__name__}; accepted: a str (text), an image (path, bytes, PIL image, "
                          "data: URL in {'image': ...}), or {'text': ..., 'image': ...}", index=index, field=field_name)


def _is_pil(x: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(x, Image.Image)


def describe_ref(ref: ImageRef) -> str:
    """A short name for an image in error messages (never the whole data: URL or byte string)."""
    if isinstance(ref, (str, Path)):
        s = str(ref)
        return repr(s[:40] + "...") if s.startswith("data:") and len(s) > 40 else repr(s)
    if isinstance(ref, (bytes, bytearray)):
        return f"<{len(ref)} bytes>"
    if _is_pil(ref):
        return f"<PIL image {ref.size[0]}x{ref.size[1]}>"
    return f"<{type(ref).__name__}>"


def read_image_bytes(ref: str | Path | bytes, limits: ImageLimits) -> tuple[bytes, str | None]:
    """(encoded bytes, the format a data: URL's MIME type promises or None). Raises ``ValueError``
    with the reason (the caller adds the input's name)."""
    if isinstance(ref, (bytes, bytearray)):
        if len(ref) > limits.max_image_bytes:
            raise _TooLarge(f"is {len(ref)} bytes; the limit is {limits.max_image_bytes} bytes per image")
        return bytes(ref), None
    s = str(ref)
    if s.startswith("data:"):
        return _data_url_bytes(s, limits)
    if s.startswith(("http://", "https://", "ftp://", "file://")) or "://" in s[:12]:
        raise ValueError("is a URL; remote images are never fetched: send the image itself as a data: URL "
                         "(data:image/png;base64,...) or bytes")
    if not limits.allow_paths:
        raise ValueError("is a file path; file paths are not accepted here: send the image as a data: URL")
    path = Path(s)
    if limits.image_root is not None:
        root = Path(limits.image_root).resolve()
        try:
            resolved = (root / path).resolve() if not path.is_absolute() else path.resolve()
        except (OSError, RuntimeError) as e:
            raise ValueError(f"is not a readable path ({e})") from None
        if not resolved.is_relative_to(root):
            raise ValueError("is outside the image root; only files under the operator's --image-root are read")
        path = resolved
    if path.suffix.lower() == ".svg":
        raise ValueError("is an SVG file; vector images are refused: convert it to PNG first")
    try:
        size = path.stat().st_size
    except OSError:
        raise ValueError("is not an existing image file") from None
    if not path.is_file():
        raise ValueError("is not a file")
    if size > limits.max_image_bytes:
        raise _TooLarge(f"is {size} bytes; the limit is {limits.max_image_bytes} bytes per image")
    return path.read_bytes(), None


def _data_url_bytes(url: str, limits: ImageLimits) -> tuple[bytes, str]:
    head, sep, payload = url.partition(",")
    if not sep:
        raise ValueError("is a data: URL without a ',' before its payload; expected data:image/png;base64,...")
    params = head[len("data:"):].split(";")
    mime = params[0].strip().lower()
    if mime not in ACCEPTED_MIME:
        raise ValueError(f"is a data: URL of type {mime or '(none)'!r}; accepted: {', '.join(sorted(set(ACCEPTED_MIME)))}")
    if "base64" not in [p.strip().lower() for p in params[1:]]:
        raise ValueError("is a data: URL that is not base64; expected data:<image type>;base64,<payload>")
    if len(payload) * 3 // 4 > limits.max_image_bytes:
        raise _TooLarge(f"holds about {len(payload) * 3 // 4} bytes; the limit is {limits.max_image_bytes} bytes per image")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is a data: URL whose payload is not valid base64") from None
    return data, ACCEPTED_MIME[mime]


class _TooLarge(ValueError):
    """Over a size bound (HTTP 413 rather than 400)."""


def open_image(ref: ImageRef, limits: ImageLimits = DEFAULT_IMAGE_LIMITS):
    """Decode one image with every bound checked first; returns a loaded ``PIL.Image.Image``
    (its first frame). Raises ``ValueError`` (``_TooLarge`` for size bounds) with the reason."""
    from PIL import Image, UnidentifiedImageError

    if _is_pil(ref):
        _check_pixels(ref.size, limits)
        return ref
    if not isinstance(ref, (str, Path, bytes, bytearray)):
        raise ValueError(f"is a {type(ref).__name__}; accepted: a file path, bytes, a PIL image or a data: URL")
    data, promised = read_image_bytes(ref, limits)
    if _looks_like_svg(data):
        raise ValueError("is SVG; vector images are refused: convert it to PNG first")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=None)  # reads the header only
            fmt = img.format
            if fmt not in limits.formats:
                raise ValueError(f"is a {fmt} image; accepted formats: {', '.join(limits.formats)}")
            if promised is not None and fmt != promised:
                raise ValueError(f"is a data: URL that says {promised} but holds {fmt} data")
            _check_pixels(img.size, limits)
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)  # animated: the first frame
            img.load()
    except UnidentifiedImageError:
        what = "a data: URL whose payload" if promised else "it"
        raise ValueError(f"is not an image ({what} is not {', '.join(limits.formats)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _TooLarge(f"declares more pixels than the limit of {limits.max_image_pixels} per image "
                        "(a decompression bomb); nothing was decoded") from None
    except (OSError, SyntaxError, EOFError) as e:
        raise ValueError(f"is a corrupt or truncated image file ({str(e).splitlines()[0][:80]})") from None
    return img


def _check_pixels(size: tuple[int, int], limits: ImageLimits) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ValueError(f"has an empty size {w}x{h}")
    if w * h > limits.max_image_pixels:
        raise _TooLarge(f"is {w}x{h} = {w * h} pixels; the limit is {limits.max_image_pixels} pixels per image")


def _looks_like_svg(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower())


def load_images(inputs: list[MediaInput], limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
                field_name: str = "inputs") -> list[list]:
    """Every input's images decoded (PIL), in order; the per-call bounds checked before decoding
    any. ``ImageInputError`` names the first bad image as ``inputs[i].images[j]``."""
    count = sum(len(x.images) for x in inputs)
    if count > limits.max_images:
        raise ImageInputError(f"hold {count} images; the limit is {limits.max_images} images per call",
                              index=None, code="too_many_images", status=413, field=field_name)
    total = 0
    out = []
    for i, x in enumerate(inputs):
        decoded = []
        for j, ref in enumerate(x.images):
            try:
                img = open_image(ref, limits)
            except _TooLarge as e:
                raise ImageInputError(f"image {j} ({describe_ref(ref)}) {e}", index=i, code="image_too_large",
                                      status=413, field=field_name) from None
            except ValueError as e:
                raise ImageInputError(f"image {j} ({describe_ref(ref)}) {e}", index=i, field=field_name) from None
            total += img.size[0] * img.size[1]
            if total > limits.max_total_pixels:
                raise ImageInputError(f"the images hold more than {limits.max_total_pixels} pixels in all (the "
                                      "per-call limit)", index=None, code="request_too_large", status=413,
                                      field=field_name)
            decoded.append(img)
        out.append(decoded)
    return out
