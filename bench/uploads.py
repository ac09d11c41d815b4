"""Uploads (issue 16): p50/p99 of one upload on an idle server, and its memory while 20 run at once.

The files are real: a JPEG of noise made with Pillow (noise, so it does not compress to nothing;
the server decodes, re-encodes and thumbnails it) and a valid PDF padded to size with a stream of
noise (sniffed and stored as it came). Each burst sends 20 uploads at once, 64 KiB at a time as a
browser does, while a thread samples the server's resident memory; growth is the highest sample
less the memory before the first burst, so bursts of different sizes are measured from one base.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from bench.servers import memory_kib
from bench.stats import Latency

if TYPE_CHECKING:
    import httpx

MIB = 1024 * 1024
BOUNDARY = "bench-upload-boundary"


def jpeg_of(size: int) -> bytes:
    """A JPEG of random pixels of about `size` bytes (within a few percent)."""
    from PIL import Image

    side = 600
    data = b""
    for _ in range(4):  # a JPEG's size grows with its pixel count: scale the sides toward the size
        image = Image.frombytes("RGB", (side * 3 // 2, side), os.urandom(side * 3 // 2 * side * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        data = out.getvalue()
        if abs(len(data) - size) < size * 0.03:
            break
        side = max(16, round(side * (size / len(data)) ** 0.5))
    return data


def pdf_of(size: int) -> bytes:
    """A valid one-page PDF of exactly `size` bytes: an unreferenced stream of noise pads it."""
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    fixed = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]

    def build(padding: int) -> bytes:
        objects = [*fixed, b"<< /Length %d >>\nstream\n" % padding + os.urandom(padding) + b"\nendstream"]
        out, offsets = bytearray(head), []
        for number, body in enumerate(objects, 1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
        return bytes(out)

    overhead = len(build(0)) + 2  # the /Length and startxref digits grow by a few bytes
    for padding in range(size - overhead - 16, size - overhead + 16):
        pdf = build(padding)
        if len(pdf) == size:
            return pdf
    raise ValueError(f"cannot pad a PDF to exactly {size} bytes")


@dataclass(frozen=True)
class Upload:
    name: str  # "1 MiB JPEG"
    filename: str
    content_type: str
    data: bytes


@dataclass
class UploadResult:
    name: str
    bytes: int
    latency: dict[str, float]  # one upload at a time, ms
    concurrency: int
    burst_seconds: float  # the 20 at once, until the last answered
    rss_growth_kib: int  # the highest resident memory sampled during the burst, less the base
    errors: list[str]


def _multipart(upload: Upload) -> tuple[bytes, bytes]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{upload.filename}"\r\n'
        f"Content-Type: {upload.content_type}\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


async def _post(client: httpx.AsyncClient, upload: Upload) -> tuple[float, str | None]:
    """(milliseconds, error or None) of one upload, the body sent 64 KiB at a time."""
    head, tail = _multipart(upload)

    async def body() -> AsyncIterator[bytes]:
        yield head
        for start in range(0, len(upload.data), 64 * 1024):
            yield upload.data[start : start + 64 * 1024]
        yield tail

    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(head) + len(upload.data) + len(tail)),
    }
    started = time.perf_counter()
    response = await client.post("/api/chat/attachments", content=body(), headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 201:
        return elapsed, f"{response.status_code}: {response.text[:200]}"
    return elapsed, None


class _Sampler:
    """The highest VmRSS of a process, read every 10 ms on a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.highest = pid, memory_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.highest = max(self.highest, memory_kib(self.pid))

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.highest = max(self.highest, memory_kib(self.pid))


async def measure(
    base_url: str, pid: int, tokens: list[str], uploads: list[Upload], requests: int
) -> tuple[int, list[UploadResult]]:
    """(base RSS in KiB, one result per upload kind): `requests` one at a time, then one per token at once."""
    import httpx

    results = []
    concurrency = len(tokens)
    clients = [
        httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {t}"}, timeout=120) for t in tokens
    ]
    try:
        for upload in uploads:  # warm: the upload path's imports, Pillow's codecs, each client's connection
            await _post(clients[0], upload)
        base = memory_kib(pid)
        for upload in uploads:
            errors: list[str] = []
            timings = []
            for _ in range(requests):
                elapsed, error = await _post(clients[0], upload)
                timings.append(elapsed)
                errors += [error] if error else []
            with _Sampler(pid) as sampler:
                started = time.perf_counter()
                answers = await asyncio.gather(*(_post(c, upload) for c in clients))
                burst = time.perf_counter() - started
            errors += [e for _, e in answers if e]
            results.append(
                UploadResult(
                    upload.name, len(upload.data), asdict(Latency.of(timings)), concurrency, burst,
                    sampler.highest - base, errors[:5],
                )
            )  # fmt: skip
    finally:
        for client in clients:
            await client.aclose()
    return base, results
