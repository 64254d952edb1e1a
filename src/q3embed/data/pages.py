"""PDF pages and folders of images as multimodal inputs (``MediaInput``), one input per image or page.

A PDF page is rendered with pypdfium2 (PDFium, the renderer Chrome uses) at ``PAGE_DPI`` = 144
dots per inch: an A4 page becomes 1191 x 1684 pixels, a little over what the model reads at its
default ``max_pixels`` (1,843,200 pixels, runtime/vision.py), so small print stays legible without
rendering pixels that are then thrown away. A page larger than ``MAX_PAGE_PIXELS`` at that
resolution (a poster) is rendered at a lower one to fit. Each page input keeps its file
(``source``) and 1-based page number (``page``), which search hits report.

Pages are rendered lazily, one at a time, so a 1,000-page PDF never sits in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import InputFileError
from .media import IMAGE_SUFFIXES, MediaInput

PAGE_DPI = 144
MAX_PAGE_PIXELS = 8_000_000
PDF_SUFFIXES = (".pdf",)


def _open_pdf(path: Path):
    try:
        import pypdfium2 as pdfium
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InputFileError("reading PDFs needs the package pypdfium2 (pip install 'q3embed[vl]')") from e
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        raise InputFileError(f"{path} is not a readable PDF ({e}); expected an unencrypted PDF file") from None


def pdf_page_count(path: str | Path) -> int:
    pdf = _open_pdf(Path(path))
    try:
        return len(pdf)
    finally:
        pdf.close()


def render_page(page, dpi: int = PAGE_DPI, max_pixels: int = MAX_PAGE_PIXELS):
    """One pypdfium2 page -> an RGB PIL image at ``dpi``, scaled down to at most ``max_pixels``."""
    width_pt, height_pt = page.get_size()  # PDF units: 1/72 inch
    scale = dpi / 72
    pixels = width_pt * scale * height_pt * scale
    if pixels > max_pixels:
        scale *= (max_pixels / pixels) ** 0.5
    return page.render(scale=scale).to_pil().convert("RGB")


def pdf_pages(path: str | Path, dpi: int = PAGE_DPI, max_pixels: int = MAX_PAGE_PIXELS,
              pages: range | None = None) -> Iterator[MediaInput]:
    """One ``MediaInput`` per page (``page`` 1-based), rendered as it is consumed."""
    path = Path(path)
    pdf = _open_pdf(path)
    try:
        for i in pages if pages is not None else range(len(pdf)):
            page = pdf[i]
            try:
                image = render_page(page, dpi, max_pixels)
            finally:
                page.close()
            yield MediaInput(images=(image,), source=str(path), page=i + 1)
    finally:
        pdf.close()


def is_media_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + PDF_SUFFIXES


def media_files(folder: str | Path, follow_links: bool = False) -> list[Path]:
    """Images and PDFs under ``folder`` (recursively), sorted; hidden files skipped, and symlinks that
    lead out of the folder too unless ``follow_links`` (as for a text corpus: ``corpus.links_leaving``)."""
    from .corpus import links_leaving

    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"{folder} is not a folder; expected a folder of images (.png, .jpg, ...) and PDFs")
    leaving = set() if follow_links else {link for link, _ in links_leaving(folder)}
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_media_file(p) and p not in leaving
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def media_inputs(paths: list[Path], dpi: int = PAGE_DPI) -> Iterator[MediaInput]:
    """An input per image file (given by path, decoded later within the image bounds) and per PDF page."""
    for p in paths:
        if p.suffix.lower() in PDF_SUFFIXES:
            yield from pdf_pages(p, dpi)
        else:
            yield MediaInput(images=(p,), source=str(p))


# -- multimodal corpora: documents whose content is an image or a PDF page ---------------------------
#
# A media document is a ``Document`` whose ``meta`` says where its image is: ``{"image": path}`` or
# ``{"pdf": path, "page": n}`` (plus ``"file"``, the path as the corpus names it). Its ``text`` is a
# label for people and lexical search ("report.pdf, page 3"); only a ``caption`` (the ``text`` of a
# JSONL row) goes into the embedding beside the image. Paths are stored absolute, so an index can be
# searched and reranked from any working directory.

def page_label(file: str, page: int | None) -> str:
    return file if page is None else f"{file}, page {page}"


def is_media_corpus(source: str | Path) -> bool:
    """A folder holding images or PDFs, a PDF or image file, or a JSONL whose rows have an ``image`` field."""
    import json

    path = Path(source)
    if path.is_dir():
        return any(is_media_file(p) for p in path.rglob("*") if p.is_file())
    if is_media_file(path):
        return True
    if path.suffix in (".jsonl", ".json") and path.is_file():
        with path.open(encoding="utf-8", errors="replace") as f:
            for _, line in zip(range(50), f):
                try:
                    rec = json.loads(line)
                except ValueError:
                    return False
                if isinstance(rec, dict) and "image" in rec:
                    return True
    return False


def read_media_corpus(source: str | Path, follow_links: bool = False):
    """Documents from a folder of images/PDFs, one PDF or image, or a JSONL of rows with ``id``,
    ``text`` and/or ``image`` (a path relative to the JSONL's folder, or a data: URL). In a folder,
    symlinks leading out of it are skipped unless ``follow_links``."""
    from .corpus import Document, _check_unique
    from .jsonl import iter_jsonl, read_lines

    path = Path(source)
    docs = []
    if path.is_dir() or is_media_file(path):
        root = path if path.is_dir() else path.parent
        for f in media_files(path, follow_links) if path.is_dir() else [path]:
            rel = f.relative_to(root).as_posix()
            if f.suffix.lower() in PDF_SUFFIXES:
                for n in range(1, pdf_page_count(f) + 1):
                    docs.append(Document(f"{rel}#page={n}", page_label(rel, n),
                                         {"pdf": str(f.resolve()), "page": n, "file": rel}))
            else:
                docs.append(Document(rel, rel, {"image": str(f.resolve()), "file": rel}))
    elif path.is_file():
        for n, rec in iter_jsonl(path, "", read_lines(path, "corpus")):
            key = next((k for k in ("_id", "id") if k in rec), None) if isinstance(rec, dict) else None
            if key is None:
                raise InputFileError(f"{path}:{n}: expected a JSON object with 'id' (or '_id') and 'text' and/or 'image'")
            text, image = rec.get("text"), rec.get("image")
            if (text is not None and not isinstance(text, str)) or (image is not None and not isinstance(image, str)):
                raise InputFileError(f"{path}:{n}: 'text' and 'image' must be strings (image: a path or data: URL)")
            if not text and not image:
                raise InputFileError(f"{path}:{n}: the row has neither 'text' nor 'image'")
            meta = {k: v for k, v in rec.items() if k not in (key, "text", "image")}
            if image:
                ref = image if image.startswith("data:") else str((path.parent / image).resolve())
                meta.update(image=ref, file=image if not image.startswith("data:") else f"{rec[key]} (inline)")
                if text:
                    meta["caption"] = text
            docs.append(Document(str(rec[key]), text or meta["file"], meta))
    else:
        raise InputFileError(f"corpus not found: {path} (expected a folder of images/PDFs, a PDF, or a .jsonl with "
                             "'text' and/or 'image' fields)")
    if not docs:
        raise InputFileError(f"{path}: no images or PDF pages found (accepted: {', '.join(IMAGE_SUFFIXES)}, .pdf)")
    _check_unique(docs, str(path))
    return docs


def document_input(doc_meta: dict | None, text: str):
    """What a VL model embeds for a stored document: its image (or rendered page) with its caption,
    or the text itself for a text document."""
    meta = doc_meta or {}
    if "pdf" in meta:
        (page,) = pdf_pages(meta["pdf"], pages=range(int(meta["page"]) - 1, int(meta["page"])))
        return MediaInput(text=meta.get("caption"), images=page.images, source=meta["pdf"], page=meta["page"])
    if "image" in meta:
        return MediaInput(text=meta.get("caption"), images=(meta["image"],), source=meta.get("file"))
    return text
