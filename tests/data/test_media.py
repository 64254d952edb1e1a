"""Image inputs are decoded within bounds, and every bad image is one clear error naming the input."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest

from q3embed.data.media import ImageInputError, ImageLimits, MediaInput, as_media_input, load_images
from q3embed.data.pages import media_files, media_inputs, pdf_pages
from q3embed.errors import InputFileError

Image = pytest.importorskip("PIL.Image")


def _png(w=40, h=30, color=(200, 10, 10), fmt="PNG", mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h), color).save(buf, fmt)
    return buf.getvalue()


def _data_url(data: bytes, mime="image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def _bomb_png(w=30_000, h=30_000) -> bytes:
    """A PNG whose header declares w x h pixels (the pixel data is never reached)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


def _load(*refs, limits=ImageLimits()):
    return load_images([MediaInput(images=(r,)) for r in refs], limits)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_accepted_format_decodes(fmt):
    (img,), = _load(_png(fmt=fmt))
    assert img.size == (40, 30)


def test_every_form_of_image_is_accepted(tmp_path):
    f = tmp_path / "a.png"
    f.write_bytes(_png())
    pil = Image.new("RGB", (8, 8))
    out = _load(str(f), f, _png(), _data_url(_png()), pil)
    assert [imgs[0].size for imgs in out] == [(40, 30)] * 4 + [(8, 8)]


def test_gif_gives_its_first_frame():
    buf = io.BytesIO()
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    (img,), = _load(buf.getvalue())
    assert img.convert("RGB").getpixel((0, 0))[0] > 200


@pytest.mark.parametrize("ref, message", [
    (_png()[:60], "corrupt or truncated"),
    (_bomb_png(), "declares more pixels than the limit of 64000000"),
    (_bomb_png(9000, 9000), "9000x9000 = 81000000 pixels; the limit is 64000000"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    (b"just some text, named .jpg by someone", "not an image"),
    (_data_url(b"plain text", "text/plain"), "data: URL of type 'text/plain'"),
    (_data_url(_png(fmt="JPEG"), "image/png"), "says PNG but holds JPEG"),
    ("data:image/png;base64,@@@not base64@@@", "not valid base64"),
    ("https://example.com/cat.png", "remote images are never fetched"),
    (12345, "accepted"),
])
def test_bad_images_are_one_line_errors_naming_the_input(ref, message):
    with pytest.raises(ImageInputError) as e:
        load_images([MediaInput(text="fine"), as_media_input({"image": ref}) if not isinstance(ref, int)
                     else MediaInput(images=(ref,))])
    assert message in str(e.value)
    assert str(e.value).startswith("inputs[1] image 0 ") and "\n" not in str(e.value)
    assert e.value.status in (400, 413)


def test_a_text_file_named_jpg_is_refused_by_content(tmp_path):
    f = tmp_path / "photo.jpg"
    f.write_text("not a photo")
    with pytest.raises(ImageInputError, match=r"inputs\[0\] image 0 .*photo.jpg.* not an image"):
        _load(str(f))


def test_call_bounds_hold_before_any_decoding():
    many = [MediaInput(images=(b"never decoded",)) for _ in range(500)]
    with pytest.raises(ImageInputError, match="hold 500 images; the limit is 256") as e:
        load_images(many)
    assert e.value.status == 413
    with pytest.raises(ImageInputError, match="pixels in all"):
        _load(_png(100, 100), _png(100, 100), limits=ImageLimits(max_total_pixels=15_000))


def test_paths_stay_under_the_image_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.png").write_bytes(_png())
    (tmp_path / "secret.png").write_bytes(_png())
    limits = ImageLimits(image_root=root)
    assert _load("ok.png", limits=limits)[0][0].size == (40, 30)
    for bad in ("../secret.png", str(tmp_path / "secret.png")):
        with pytest.raises(ImageInputError, match="outside the image root"):
            _load(bad, limits=limits)
    with pytest.raises(ImageInputError, match="file paths are not accepted"):
        _load("ok.png", limits=ImageLimits(allow_paths=False))


def _pdf(path, pages=3):
    images = [Image.new("RGB", (300, 400), (40 * i, 100, 200)) for i in range(pages)]
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=72)
    return path


def test_a_pdf_becomes_one_input_per_page_with_file_and_page(tmp_path):
    pdf = _pdf(tmp_path / "doc.pdf")
    pages = list(pdf_pages(pdf))
    assert [(p.source, p.page) for p in pages] == [(str(pdf), 1), (str(pdf), 2), (str(pdf), 3)]
    assert pages[0].images[0].size == (600, 800)  # 300 x 400 pt at 144 dpi


def test_a_folder_of_images_and_pdfs(tmp_path):
    _pdf(tmp_path / "b.pdf", pages=2)
    (tmp_path / "a.png").write_bytes(_png())
    (tmp_path / "notes.txt").write_text("skipped")
    (tmp_path / ".hidden.png").write_bytes(_png())
    inputs = list(media_inputs(media_files(tmp_path)))
    assert [(inp.source.rsplit("/", 1)[-1], inp.page) for inp in inputs] == [("a.png", None), ("b.pdf", 1),
                                                                              ("b.pdf", 2)]


def test_a_broken_pdf_is_named(tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 nothing else")
    with pytest.raises(InputFileError, match="broken.pdf is not a readable PDF"):
        list(pdf_pages(bad))
