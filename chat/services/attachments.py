"""Uploads: what a file is (sniffed from its bytes), images re-encoded without their metadata and
given a thumbnail, stored under a random name; and removing the files that must go (a deleted
message's, an upload nobody sent).

An upload arrives as a file on disk (chat.rest.uploads streams it there), and nothing here reads
a whole file into memory but a decoded image, whose size the pixel limit bounds.
"""

from __future__ import annotations

import codecs
import logging
import mimetypes
import os
import secrets
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from tempfile import SpooledTemporaryFile
from typing import IO, Any

import puremagic
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from accounts.models import User
from accounts.passwords import release_connections
from chat import metrics, ratelimit
from chat.models import Attachment
from core.errors import DomainError, Invalid

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255
THUMBNAIL_SIZE = (320, 320)
THUMBNAIL_TYPE = "image/webp"
# The most pixels an image may decode to (over all its frames), which bounds an upload's memory.
# Pillow's own guard uses it too: twice as many is refused when opened (DecompressionBombError).
MAX_IMAGE_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

# Formats Pillow re-encodes (the type, Pillow's format name, the extension stored).
IMAGE_FORMATS = {
    "image/jpeg": ("JPEG", ".jpg"),
    "image/png": ("PNG", ".png"),
    "image/gif": ("GIF", ".gif"),
    "image/webp": ("WEBP", ".webp"),
}
_EXTENSIONS = {"application/pdf": ".pdf", "text/plain": ".txt", "image/svg+xml": ".svg"}
# What a plain-text upload's name may claim to be; `.js`, `.html`, `.sh` and the like are refused,
# since a receiver who saves and opens one would run it.
_TEXT_NAMES = frozenset({"text/plain", "text/markdown", "text/csv", "text/tab-separated-values"})
# Types that mean markup or script: never taken for plain text, whatever else the bytes are.
_ACTIVE_TYPES = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "application/xml", "text/xml"})
# Text may hold tabs, line breaks and form feeds; other C0 controls (and DEL) mean binary.
_TEXT_CONTROLS = frozenset(chr(c) for c in (*range(0, 9), 11, *range(14, 32), 127))
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Upload:
    """A file as the client sent it: its name (untrusted), its size, and its bytes on disk."""

    name: str
    size: int
    file: IO[bytes]


def storage() -> Storage:
    return storages["default"]


def clean_name(raw: str) -> str:
    """A file name to show: no path, no control, format (bidi, zero-width) or separator
    characters, at most 255 characters with the extension kept; never used as a path.

    Written here rather than taken from a library: Django's parser already cut the name to its
    last path part, and what is left to do is what a display needs (pathvalidate, the usual
    choice, keeps bidi overrides such as U+202E, which make `gpj.exe` read `exe.jpg`).
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(" " if c.isspace() else c for c in name)
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = " ".join(name.split()).strip(". ")
    if not name:
        return "file"
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_NAME_LENGTH]
    return name


def sniff(file: IO[bytes]) -> str:
    """The file's type from its bytes alone (puremagic's signatures; plain text when none matches
    and the bytes are UTF-8 text without control characters); `application/octet-stream` else."""
    file.seek(0)
    try:
        guesses = [str(m.mime_type) for m in puremagic.magic_stream(file) if m.mime_type]
    except puremagic.PureError:
        guesses = []
    allowed = settings.ATTACHMENT_TYPES
    for guess in guesses:
        if guess in allowed:
            return guess
    if guesses and guesses[0] in _ACTIVE_TYPES:
        return guesses[0]
    if not any(g in _ACTIVE_TYPES for g in guesses) and _is_text(file):
        return "text/plain"
    return guesses[0] if guesses else "application/octet-stream"


def _is_text(file: IO[bytes]) -> bool:
    file.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := file.read(_READ_CHUNK):
            if not _TEXT_CONTROLS.isdisjoint(decoder.decode(chunk)):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _check_name_matches(name: str, content_type: str) -> None:
    claimed, _ = mimetypes.guess_type(name, strict=False)
    if claimed is None or claimed == content_type:
        return
    if content_type == "text/plain" and claimed in _TEXT_NAMES:
        return
    raise Invalid.field("file", f"The file's contents are {content_type}, not what its name says ({claimed}).")


@dataclass
class _Encoded:
    file: IO[bytes]
    thumbnail: IO[bytes]
    width: int
    height: int


def _damaged() -> Invalid:
    return Invalid.field("file", "The image is damaged or incomplete.")


# A decoded image is the one part of an upload held in memory whole: at most this many at once per
# process, on their own threads, with no database connection held meanwhile (benchmarks.md, Uploads).
IMAGE_CONCURRENCY = getattr(os, "process_cpu_count", os.cpu_count)() or 1
_image_workers = ThreadPoolExecutor(max_workers=IMAGE_CONCURRENCY, thread_name_prefix="attachment-image")


def _reencode(file: IO[bytes], content_type: str) -> _Encoded:
    """The image decoded in full (so a truncated one is refused) and written again with no
    metadata (EXIF, GPS, comments, ICC), upright by its EXIF orientation, with a WebP thumbnail;
    on one of the image workers."""
    release_connections()
    return _image_workers.submit(_reencode_now, file, content_type).result()


def _reencode_now(file: IO[bytes], content_type: str) -> _Encoded:
    pillow_format, _ = IMAGE_FORMATS[content_type]
    file.seek(0)
    try:
        with Image.open(file, formats=[pillow_format]) as image:
            frames = getattr(image, "n_frames", 1)
            if image.width * image.height * frames > MAX_IMAGE_PIXELS:
                raise Invalid.field("file", f"The image has more than {MAX_IMAGE_PIXELS} pixels.")
            return _encode(image, pillow_format, frames)
    except Image.DecompressionBombError:
        raise Invalid.field("file", f"The image has more than {MAX_IMAGE_PIXELS} pixels.") from None
    except UnidentifiedImageError:
        raise Invalid.field("file", f"The file is not a readable {content_type} image.") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError):
        raise _damaged() from None


def _clean_frame(frame: Image.Image, pillow_format: str) -> Image.Image:
    # What drawing the pixels needs; everything else in `info` (exif, icc_profile, comment, dpi...) goes.
    keep = set() if pillow_format == "JPEG" else {"transparency", "duration", "background", "loop"}
    clean = frame.copy()
    clean.info = {k: v for k, v in frame.info.items() if k in keep}
    if pillow_format == "JPEG" and clean.mode not in {"RGB", "L", "CMYK"}:
        clean = clean.convert("RGB")
    return clean


def _encode(image: Image.Image, pillow_format: str, frames: int) -> _Encoded:
    out: IO[bytes] = SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 - handed to the caller
    options: dict[str, Any] = {"JPEG": {"quality": 90}, "WEBP": {"quality": 90}}.get(pillow_format, {})
    if frames > 1:
        # Each frame decoded (a truncated frame raises here) and cleaned; durations kept per frame.
        sequence = [_clean_frame(f, pillow_format) for f in ImageSequence.Iterator(image)]
        first = sequence[0]
        durations = [f.info.get("duration", 100) for f in sequence]
        first.save(
            out,
            pillow_format,
            save_all=True,
            append_images=sequence[1:],
            duration=durations,
            loop=image.info.get("loop", 0),
            **options,
        )
    else:
        image.load()
        first = _clean_frame(ImageOps.exif_transpose(image) or image, pillow_format)
        first.save(out, pillow_format, **options)
    thumb = first.convert("RGBA" if "A" in first.getbands() or "transparency" in first.info else "RGB")
    thumb.thumbnail(THUMBNAIL_SIZE)
    thumbnail: IO[bytes] = SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
    thumb.save(thumbnail, "WEBP", quality=80)
    out.seek(0)
    thumbnail.seek(0)
    return _Encoded(out, thumbnail, first.width, first.height)


def _refused(reason: str, error: DomainError) -> DomainError:
    metrics.attachment_refused(reason)
    return error


def upload_attachment(*, uploader: User, upload: Upload) -> Attachment:
    """Check, clean and store one upload; it is the uploader's until a send puts it in a message.

    Anything refused raises before a byte is stored, so a bad upload leaves no file behind.
    """
    try:
        ratelimit.check_upload_rate(uploader.pk)
    except DomainError as exc:
        raise _refused("rate_limited", exc) from None
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size > limit:  # the REST edge stops such a body sooner, with a 413
        raise _refused("too_large", Invalid.field("file", f"The file is larger than {limit} bytes."))
    if upload.size == 0:
        raise _refused("empty", Invalid.field("file", "The file is empty."))
    name = clean_name(upload.name)
    content_type = sniff(upload.file)
    if content_type not in settings.ATTACHMENT_TYPES:
        allowed = ", ".join(sorted(settings.ATTACHMENT_TYPES))
        error = Invalid.field("file", f"Files of type {content_type} are not allowed (allowed: {allowed}).")
        raise _refused("type", error)
    try:
        _check_name_matches(name, content_type)
        encoded = _reencode(upload.file, content_type) if content_type in IMAGE_FORMATS else None
    except Invalid as exc:
        raise _refused("damaged", exc) from None
    token = secrets.token_hex(16)
    base = f"attachments/{token[:2]}/{token}"
    extension = IMAGE_FORMATS[content_type][1] if encoded else _EXTENSIONS.get(content_type, "")
    store = storage()
    saved: list[str] = []
    try:
        if encoded is None:
            upload.file.seek(0)
            saved.append(store.save(base + extension, File(upload.file)))
            size, width, height, thumbnail = upload.size, None, None, ""
        else:
            saved.append(store.save(base + extension, File(encoded.file)))
            saved.append(store.save(f"{base}-thumb.webp", File(encoded.thumbnail)))
            size, width, height, thumbnail = store.size(saved[0]), encoded.width, encoded.height, saved[1]
        attachment = Attachment.objects.create(
            uploader=uploader,
            name=name,
            content_type=content_type,
            size=size,
            width=width,
            height=height,
            file=saved[0],
            thumbnail=thumbnail,
        )
    except BaseException:
        _delete_files(saved)
        raise
    finally:
        if encoded is not None:
            encoded.file.close()
            encoded.thumbnail.close()
    metrics.attachment_uploaded("image" if encoded else "file", size)
    return attachment


def _delete_files(names: Iterable[str]) -> None:
    """Delete stored files; one that cannot be deleted is logged (the purge tries again)."""
    store = storage()
    for name in names:
        if not name:
            continue
        try:
            store.delete(name)
        except Exception:
            log.exception("could not delete an attachment file", extra={"file": name})


def files_of(attachments: Iterable[Attachment]) -> list[str]:
    return [name for a in attachments for name in (a.file, a.thumbnail) if name]


def remove_files_after_commit(names: list[str]) -> None:
    """Delete these files once the transaction that made them unreachable commits."""
    if names:
        transaction.on_commit(lambda: _delete_files(names))


def remove_files_of_messages(message_ids: Iterable[int]) -> None:
    """The files of these (just deleted) messages go once the deletion commits, so no link to them,
    the app's or a presigned S3 one, works any more; the rows stay until the messages are purged."""
    remove_files_after_commit(files_of(Attachment.objects.filter(message_id__in=list(message_ids))))


def forget_attachments_of(message_ids: Iterable[int]) -> int:
    """Drop the attachment rows of restored messages: their files went when they were deleted."""
    rows = Attachment.objects.filter(message_id__in=list(message_ids))
    names = files_of(rows)
    count, _ = rows.delete()
    remove_files_after_commit(names)
    return count


PURGE_BATCH_UPLOADS = 500


def purge_unsent_uploads(*, created_before: datetime | None = None, dry_run: bool = False) -> int:
    """Remove uploads that are in no message and older than ATTACHMENT_UNSENT_HOURS; how many.

    Each batch is locked and re-checked before it is deleted, so a send that links one of them
    meanwhile either wins (the row is kept) or finds it gone (a 400, nothing stored).
    """
    cutoff = created_before or timezone.now() - timedelta(hours=settings.ATTACHMENT_UNSENT_HOURS)
    stale = Attachment.objects.filter(message__isnull=True, created_at__lt=cutoff)
    if dry_run:
        return stale.count()
    removed = 0
    while True:
        with transaction.atomic():
            batch = list(stale.select_for_update().order_by("id")[:PURGE_BATCH_UPLOADS])
            if not batch:
                return removed
            Attachment.objects.filter(pk__in=[a.pk for a in batch]).delete()
            remove_files_after_commit(files_of(batch))
        removed += len(batch)
