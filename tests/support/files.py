"""Files for the upload tests, made here: real images (with EXIF and GPS), a PDF, a PNG
decompression bomb that is small on disk, a truncated JPEG."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (640, 480), color: str = "teal", **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt, **options)
    return buffer.getvalue()


def png(size: tuple[int, int] = (640, 480)) -> bytes:
    return image_bytes("PNG", size)


def jpeg_with_gps(size: tuple[int, int] = (800, 600)) -> bytes:
    """A JPEG whose EXIF names a camera and a GPS position (and says to rotate it a quarter turn)."""
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to show
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 24.0), "E", (2.0, 21.0, 3.0)
    return image_bytes("JPEG", size, exif=exif.tobytes(), comment=b"secret note")


def truncated_jpeg() -> bytes:
    whole = image_bytes("JPEG", (1200, 900), quality=95)
    return whole[: len(whole) // 2]


def png_bomb(side: int = 20_000) -> bytes:
    """A side-by-side 1-bit PNG (400 megapixels at 20,000) of a few tens of KiB: the header alone
    says how large it decodes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def animated_gif(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (64, 48), (i * 60 % 256, 30, 200 - i * 40)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0, comment=b"hidden")
    return buffer.getvalue()
