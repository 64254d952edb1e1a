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


def media_files(folder: str | Path) -> list[Path]:
    """Images and PDFs under ``folder`` (recursively), sorted; hidden files skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"{folder} is not a folder; expected a folder of images (.png, .jpg, ...) and PDFs")
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_media_file(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def media_inputs(paths: list[Path], dpi: int = PAGE_DPI) -> Iterator[MediaInput]:
    """An input per image file (given by path, decoded later within the image bounds) and per PDF page."""
    for p in paths:
        if p.suffix.lower() in PDF_SUFFIXES:
            yield from pdf_pages(p, dpi)
        else:
            yield MediaInput(images=(p,), source=str(p))
