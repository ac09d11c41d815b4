"""The upload's HTTP edge: the multipart body streamed to a temporary file, its size enforced
while it streams, so no upload is ever held in memory whole.

The route's body limit (core.middleware.ROUTE_BODY_LIMITS) refuses a Content-Length over the
limit before a byte is read; this handler stops a body that grows past it anyway (a chunked one,
or a Content-Length that lied about the part).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import StopFutureHandlers, TemporaryFileUploadHandler
from django.http import HttpRequest
from rest_framework.exceptions import APIException
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request

from chat.services.attachments import Upload
from core.errors import Invalid

FIELD = "file"


class UploadTooLarge(APIException):
    """413: the file passed ATTACHMENT_MAX_BYTES while it streamed (an HTTP matter: uploads are REST only)."""

    status_code = 413
    default_code = "payload_too_large"


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler for the one `file` part, refusing it past ATTACHMENT_MAX_BYTES."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received = 0
        self.files = 0

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        if field_name != FIELD:
            raise Invalid.field(FIELD, f"Send the file in the multipart field `{FIELD}`, and nothing else.")
        self.files += 1
        if self.files > 1:
            raise Invalid.field(FIELD, "Send one file per upload.")
        self.received = 0
        super().new_file(field_name, *args, **kwargs)
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        limit = settings.ATTACHMENT_MAX_BYTES
        if self.received > limit:
            raise UploadTooLarge(f"file: The file is larger than {limit} bytes.")
        return super().receive_data_chunk(raw_data, start)


class UploadParser(MultiPartParser):
    """multipart/form-data through LimitedUploadHandler only (never the in-memory handler)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request: Request = (parser_context or {})["request"]
        request._request.upload_handlers = [LimitedUploadHandler(request._request)]
        return super().parse(stream, media_type, parser_context)


def upload_of(request: Request) -> Upload:
    """The `file` part of an upload request, as a file on disk."""
    files = request.FILES.getlist(FIELD)
    if len(files) != 1:
        raise Invalid.field(FIELD, "This field is required: a multipart part named `file` with the file.")
    part = files[0]
    return Upload(name=part.name or "", size=part.size or 0, file=part.file)
