"""How images are stored: validated 8-bit pixels re-encoded as base64 PNG text in the Task's table.

Why text in SQL rather than a content-addressed file store: the image travels with its row
through the generic ingest (CSV cells, pandera checks, quarantine, one transaction), so a failed
batch leaves no orphan files, SQLite and PostgreSQL store it alike (TEXT), a backup is one
database dump, and the dashboards read one row to show one study. Every image is decoded,
checked and re-encoded here, so the stored PNG carries pixels only (no text chunks, no EXIF,
no DICOM header). The cost is a third more bytes than raw PNG: fine for 28-512 px studies.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

MIN_SIDE = 16  # smaller images carry too little to read a lesion from
MAX_SIDE = 4096  # larger ones are whole-slide scans: tile them first
# Pixels per image, checked on the header before anything is decompressed: the most the side
# limit admits (16.8 MP, 50 MB as RGB). A file claiming more is refused unread, so a
# decompression bomb (30000x30000 px in a few KB) costs neither memory nor time.
MAX_PIXELS = MAX_SIDE * MAX_SIDE
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Quarantine rules of an image cell (the schema's check names); one bad cell fails one rule.
DECODABLE_IMAGE = "decodable_image"
TOO_MANY_PIXELS = f"too_many_pixels({MAX_PIXELS})"
PIXELS_ONLY = "pixels_only"
# How an adapter's cell reads when it could not use an image: the rule and why, no pixels, so
# the row is quarantined for that rule and the refused file's bytes are never stored.
REFUSED = "refused"


class ImageError(ValueError):
    """An input is not a usable 2D image (corrupt, not an image, wrong size or shape)."""

    rule = DECODABLE_IMAGE


class TooManyPixels(ImageError):
    """An image claims more than MAX_PIXELS pixels (a decompression bomb, or an untiled scan)."""

    rule = TOO_MANY_PIXELS


def _too_many(where: str, width: int, height: int) -> TooManyPixels:
    return TooManyPixels(f"{where}: the image claims {width}x{height} = {width * height:,} px, "
                         f"over the limit of {MAX_PIXELS:,} px per image; resize or tile it "
                         f"(each side at most {MAX_SIDE} px)")


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR header, None when `data` does not start like a PNG."""
    if len(data) < 24 or not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def png_chunks(data: bytes) -> tuple[list[bytes], int] | None:
    """The chunk types of a PNG in order and the count of bytes after IEND; None when the
    chunk stream is malformed (not a PNG, a chunk running past the end, no IEND)."""
    if not data.startswith(PNG_MAGIC):
        return None
    kinds, at = [], len(PNG_MAGIC)
    while at + 12 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kinds.append(data[at + 4:at + 8])
        at += 12 + length  # length, type, data, CRC
        if at > len(data):
            return None
        if kinds[-1] == b"IEND":
            return kinds, len(data) - at
    return None


def check_pixels(pixels: np.ndarray, where: str) -> np.ndarray:
    """The array as uint8 (H, W) grayscale or (H, W, 3) RGB; raise ImageError otherwise."""
    array = np.asarray(pixels)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]  # alpha carries no diagnosis
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ImageError(f"{where}: expected a 2D grayscale or RGB image, got an array of shape "
                         f"{array.shape}; split volumes and multi-frame files into 2D images")
    height, width = array.shape[:2]
    if min(height, width) < MIN_SIDE or max(height, width) > MAX_SIDE:
        raise ImageError(f"{where}: image is {height}x{width} px; each side must be between "
                         f"{MIN_SIDE} and {MAX_SIDE} px (resize or tile it first)")
    if array.dtype != np.uint8:
        if array.dtype.kind not in "uif" or not np.isfinite(array).all():
            raise ImageError(f"{where}: pixel values of type {array.dtype} are not finite numbers")
        if array.min() < 0 or array.max() > 255:
            raise ImageError(f"{where}: pixel values span {array.min()}..{array.max()}; window "
                             "them to 0..255 first (core.dicom does this for DICOM)")
        array = np.rint(array).astype(np.uint8)
    return np.ascontiguousarray(array)


def decode_bytes(data: bytes, where: str) -> np.ndarray:
    """PNG/JPEG/... bytes -> checked pixels; a clear ImageError for anything else."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageError(f"{where}: the file is empty")
    size = png_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise _too_many(where, *size)  # before PIL: its own bomb check raises a bare error
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.size[0] * image.size[1] > MAX_PIXELS:
                raise _too_many(where, *image.size)
            image.load()  # a truncated file fails here, not later
            mode = "RGB" if image.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr") else "L"
            if image.mode in ("I;16", "I", "F"):
                raise ImageError(f"{where}: {image.mode} (16-bit/float) images are not windowed; "
                                 "save an 8-bit PNG, or ingest the DICOM itself")
            pixels = np.asarray(image.convert(mode))
    except ImageError:
        raise
    except Image.DecompressionBombError as error:  # a non-PNG header past PIL's own limit
        raise TooManyPixels(f"{where}: the image claims more than {MAX_PIXELS:,} px, the limit "
                            f"per image ({error}); resize or tile it") from error
    except UnidentifiedImageError as error:
        raise ImageError(f"{where}: not an image (PNG, JPEG, ...): {error}") from error
    # PIL's words for truncated/corrupt data: OSError, SyntaxError, and from crafted headers
    # ValueError, EOFError, struct.error or zlib.error.
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as error:
        raise ImageError(f"{where}: corrupt image data ({type(error).__name__}: {error}); "
                         "export the image again") from error
    if pixels.ndim == 3 and np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(
            pixels[..., 0], pixels[..., 2]):
        pixels = pixels[..., 0]  # grey saved as RGB: keep one channel
    return check_pixels(pixels, where)


def read_image_file(path: Path) -> np.ndarray:
    """A PNG/JPEG file's checked pixels."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    return decode_bytes(path.read_bytes(), str(path))


def encode(pixels: np.ndarray, where: str = "image") -> str:
    """Checked pixels -> base64 PNG text (the stored form: pixels only, no metadata)."""
    from PIL import Image

    array = check_pixels(pixels, where)
    buffer = io.BytesIO()
    Image.fromarray(array, mode="L" if array.ndim == 2 else "RGB").save(
        buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode(text: str, where: str = "image") -> np.ndarray:
    """Stored base64 PNG text -> pixels (uint8, (H, W) or (H, W, 3))."""
    if not isinstance(text, str) or not text:
        raise ImageError(f"{where}: no image (empty cell)")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ImageError(f"{where}: the image cell is not base64 PNG text ({error})") from error
    if not data.startswith(PNG_MAGIC):
        raise ImageError(f"{where}: the image cell does not hold a PNG")
    return decode_bytes(data, where)


def is_valid(text: object) -> bool:
    """True when `text` is a stored image that decodes and has a usable size (pandera check)."""
    try:
        decode(text)  # type: ignore[arg-type]
    except ImageError:
        return False
    return True


def reencode(text: str, where: str = "image") -> str:
    """A base64 PNG cell as `encode` writes it: the same pixels, every metadata chunk (tEXt,
    iTXt, zTXt, eXIf, ...) and any bytes after the image dropped."""
    return encode(decode(text, where), where)


def refusal(error: ImageError) -> str:
    """The cell an adapter writes for an image it could not use: `refused <rule>: <why>`."""
    return f"{REFUSED} {error.rule}: {error}"


def _cell_bytes(text: object) -> bytes | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def within_pixel_limit(text: object) -> bool:
    """The too_many_pixels check: False for a PNG cell whose header claims more than MAX_PIXELS
    (read from the header alone) or an adapter's refusal for that reason."""
    if isinstance(text, str) and text.startswith(f"{REFUSED} "):
        return not text.startswith(f"{REFUSED} {TOO_MANY_PIXELS}:")
    # 32 base64 characters are the first 24 bytes: the signature and IHDR's width and height.
    head = _cell_bytes(text[:32]) if isinstance(text, str) else None
    size = png_size(head) if head else None
    return size is None or size[0] * size[1] <= MAX_PIXELS


def decodable(text: object) -> bool:
    """The decodable_image check: the cell is a stored image that decodes with a usable size.
    A cell over the pixel limit passes here (too_many_pixels names it): one rule per bad cell."""
    return not within_pixel_limit(text) or is_valid(text)


def pixels_only(text: object) -> bool:
    """The pixels_only check: the PNG holds pixels and nothing else, as `encode` writes it (no
    text, EXIF, time or profile chunk, nothing after IEND). Cells that are no PNG pass here:
    decodable_image reports them."""
    data = _cell_bytes(text)
    if data is None or not data.startswith(PNG_MAGIC):
        return True
    chunks = png_chunks(data)
    if chunks is None:  # a malformed stream is decodable_image's, unless PIL reads it anyway
        return not is_valid(text)
    kinds, trailing = chunks
    return trailing == 0 and set(kinds) <= {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


def png_bytes(text: str) -> bytes:
    """The raw PNG of a stored image (for st.image and downloads)."""
    return base64.b64decode(text)


def to_batch(images: list[np.ndarray], size: int, channels: int) -> np.ndarray:
    """Pixels -> float32 (N, channels, size, size) in [0, 1], resized with antialiasing."""
    from PIL import Image

    batch = np.empty((len(images), channels, size, size), dtype=np.float32)
    for i, pixels in enumerate(images):
        if pixels.ndim == 3 and channels == 1:
            pixels = np.asarray(Image.fromarray(pixels, "RGB").convert("L"))
        if pixels.shape[:2] != (size, size):
            mode = "L" if pixels.ndim == 2 else "RGB"
            pixels = np.asarray(Image.fromarray(pixels, mode).resize(
                (size, size), Image.Resampling.BICUBIC if max(pixels.shape[:2]) < size
                else Image.Resampling.LANCZOS))
        if pixels.ndim == 2:
            batch[i] = pixels[None] / 255.0  # broadcasts grey over every channel
        else:
            batch[i] = pixels.transpose(2, 0, 1) / 255.0
    return batch


def channels_of(images: list[np.ndarray]) -> int:
    """3 when any image is colour (grey ones are then repeated), else 1."""
    return 3 if any(pixels.ndim == 3 for pixels in images) else 1


def image_statistics(column: pd.Series) -> dict[str, np.ndarray]:
    """Mean brightness and contrast (std) of each stored image, in 0..1: drift features."""
    pixels = [decode(text, f"image {i}") for i, text in enumerate(column)]
    return {"brightness": np.array([p.mean() / 255.0 for p in pixels]),
            "contrast": np.array([p.std() / 255.0 for p in pixels])}
