"""Signed, expiring links to attachment files: who holds one may fetch the file until it expires.

Links are handed out only in the upload's answer (to the uploader) and in message shapes (to the
conversation's participants), so the link is the credential: an <img> cannot send a token. With
the filesystem store a link is the app's own `/api/chat/files/<token>`, a Django-signed
(attachment, kind) with its signing time, checked by chat.selectors.attachments; with S3 it is the
store's presigned GET, which expires after the same ATTACHMENT_URL_TTL_SECONDS.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files.storage import storages
from django.urls import reverse
from django.utils.http import content_disposition_header

from chat.models import Attachment
from core.errors import NotFound

_SALT = "chat.attachment.link"
FILE, THUMBNAIL = "f", "t"
# Served inline (re-encoded images, whose bytes we wrote); everything else downloads as a file.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def disposition(attachment: Attachment, kind: str) -> str:
    inline = kind == THUMBNAIL or attachment.content_type in INLINE_TYPES
    return content_disposition_header(not inline, attachment.name) or "attachment"


def served_type(attachment: Attachment, kind: str) -> str:
    if kind == THUMBNAIL:
        return "image/webp"
    return (
        f"{attachment.content_type}; charset=utf-8"
        if attachment.content_type == "text/plain"
        else attachment.content_type
    )


def link(attachment: Attachment, kind: str) -> str | None:
    """A fresh link to the file (`FILE`) or its thumbnail (`THUMBNAIL`); None when there is none."""
    name = attachment.file if kind == FILE else attachment.thumbnail
    if not name:
        return None
    store = storages["default"]
    if getattr(store, "querystring_auth", False):
        parameters = {
            "ResponseContentType": served_type(attachment, kind),
            "ResponseContentDisposition": disposition(attachment, kind),
        }
        return str(store.url(name, parameters=parameters, expire=settings.ATTACHMENT_URL_TTL_SECONDS))  # type: ignore[call-arg]
    token = _signer().sign_object([attachment.pk, kind])
    return reverse("chat-attachment-file", args=[token])


def verify(token: str) -> tuple[int, str]:
    """(attachment id, kind) of a link made by `link` that has not expired; a tampered, expired
    or malformed one is a 404, like a link to nothing."""
    try:
        value: Any = _signer().unsign_object(token, max_age=settings.ATTACHMENT_URL_TTL_SECONDS)
    except (signing.BadSignature, ValueError, TypeError):
        raise NotFound("No such file, or the link has expired.") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or isinstance(value[0], bool)
        or value[1] not in {FILE, THUMBNAIL}
    ):
        raise NotFound("No such file, or the link has expired.")
    return value[0], value[1]
