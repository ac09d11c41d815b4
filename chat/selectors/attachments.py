"""The file behind a signed link, while it may still be served."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from chat.links import FILE, verify
from chat.models import Attachment
from core.errors import NotFound


@dataclass(frozen=True)
class ServedFile:
    attachment: Attachment
    kind: str
    name: str  # in the default storage


def file_of_link(token: str) -> ServedFile:
    """The file a link names: 404 for a tampered or expired link, and for a file whose message
    was deleted (at once, whatever links are still out)."""
    attachment_id, kind = verify(token)
    attachment = (
        Attachment.objects.filter(pk=attachment_id)
        .filter(Q(message__isnull=True) | Q(message__deleted_at__isnull=True))
        .first()
    )
    name = None if attachment is None else attachment.file if kind == FILE else attachment.thumbnail
    if attachment is None or not name:
        raise NotFound("No such file, or the link has expired.")
    return ServedFile(attachment, kind, name)
