"""`manage.py serve` refuses a request body over its route's limit before reading it, hands
Django chunked bodies with their length, and never holds a large body in memory.

Twisted reads a whole body (to a file) before daphne runs the application, and daphne then queues
all of it in memory at once, so a limit the application checks comes too late: the server keeps it.
The limits are core.middleware.body_limit's, shared with Django's middleware. This hooks
Twisted's HTTP/1.1 request (gotLength / handleContentChunk), the only HTTP daphne serves here.

A body Twisted spooled to its temporary file (only uploads are that large) is read from that file
as the application asks for it (SpooledBodyQueue), instead of daphne queueing all of it at once
(docs/benchmarks.md, "Uploads").
"""

from __future__ import annotations

import asyncio
import io
from functools import partial
from typing import IO, Any
from urllib.parse import unquote

from daphne.http_protocol import WebRequest
from twisted.web import http

from core import metrics
from core.daphne_tuning import release_upgraded_channel
from core.middleware import body_limit, too_large_body
from core.rest import dumps

# How long a refused upload's connection stays open, its bytes read and dropped, after the 413.
REFUSED_BODY_LINGER_SECONDS = 2.0


class BodyLimitedRequest(WebRequest):  # type: ignore[misc]
    """daphne's request, answering 413 from the headers, or as soon as a chunked body passes the limit.
    Being the request serve's daphne builds, it also lets go of its channel once daphne upgrades it
    to a WebSocket (core.daphne_tuning.release_upgraded_channel)."""

    _limit = 0
    _received = 0
    _chunked = False
    _refused = False
    _linger: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Twisted would read a whole form or multipart body into memory, and parse it again with the
        # email package, to fill `request.args`, which daphne never reads.
        self._parsePOSTFormSubmission = False

    def process(self) -> None:
        channel = self.channel
        super().process()
        if self.transport is None:  # daphne handed the connection to a WebSocket protocol
            release_upgraded_channel(channel)

    def gotLength(self, length: int | None) -> None:
        # The channel calls this once the headers are in, before it reads a byte of the body
        # (length None: chunked). The request line is only on the channel yet.
        path = target_text(self.channel._path).split("?", 1)[0]
        self._limit = body_limit(unquote(path))  # the path daphne gives Django
        self._chunked = length is None
        if length is not None and length > self._limit:
            super().gotLength(0)
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > self._limit:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self._refused:
            return
        if self._chunked:
            # Twisted has decoded the chunks. Django and DRF take a body without Content-Length
            # for an empty one, so say how long it is, as a buffering proxy would.
            self.requestHeaders.removeHeader(b"transfer-encoding")
            self.requestHeaders.setRawHeaders(b"content-length", [b"%d" % self._received])
        super().requestReceived(command, path, version)

    def _refuse(self) -> None:
        self._refused = True
        channel, transport = self.channel, self.channel.transport
        # Answered instead of the "100 Continue" the channel would send next.
        self.requestHeaders.removeHeader(b"expect")
        body = dumps(too_large_body(self._limit))
        transport.write(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        # Closing with the client's bytes unread makes the kernel reset the connection, and a client
        # still sending would lose the 413: drop what it sends, for a moment, then close.
        channel.dataReceived = lambda data: None
        transport.loseWriteConnection()
        self._linger = channel.callLater(REFUSED_BODY_LINGER_SECONDS, transport.abortConnection)
        self.server.protocol_disconnected(self)  # no application will run for it
        metrics.error("rest", "payload_too_large")
        client = f"{self.client.host}:{self.client.port}" if hasattr(self.client, "port") else None
        self.server.log_action(
            "http",
            "complete",
            {
                "path": target_text(channel._path),
                "status": 413,
                "method": target_text(channel._command),
                "client": client,
                "size": len(body),
            },
        )

    def connectionLost(self, reason: Any) -> None:
        if not self._refused:
            super().connectionLost(reason)
            return
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        # Daphne's would report it gone a second time; twisted leaves this method untyped.
        http.Request.connectionLost(self, reason)  # type: ignore[no-untyped-call]


# How much of a spooled body the application is handed per message.
SPOOLED_CHUNK_BYTES = 64 * 1024


class SpooledBodyQueue(asyncio.Queue[dict[str, Any]]):
    """The application's input queue for an HTTP request whose body Twisted spooled to a file.

    daphne puts the whole body in at once, chunk after chunk; those copies are dropped as they come
    (the bytes daphne read for them are freed at once), and each `http.request` message the
    application asks for is read from the file then, so a body is in memory a chunk at a time.
    Anything else daphne puts (`http.disconnect`) is handed over first, as daphne's queue would
    once the body was taken.
    """

    def __init__(self, body: IO[bytes]) -> None:
        super().__init__()
        self._body = body
        self._offset = 0
        self._sent_all = False

    def put_nowait(self, item: dict[str, Any]) -> None:
        if item.get("type") == "http.request":
            return
        super().put_nowait(item)

    async def get(self) -> dict[str, Any]:
        if self._sent_all or not self.empty():
            return await super().get()
        if self._body.closed:  # the connection is gone; its disconnect is on the way
            return await super().get()
        self._body.seek(self._offset)
        chunk = self._body.read(SPOOLED_CHUNK_BYTES)
        self._offset += len(chunk)
        self._sent_all = len(chunk) < SPOOLED_CHUNK_BYTES or not self._body.read(1)
        return {"type": "http.request", "body": chunk, "more_body": not self._sent_all}


def spooled_body(protocol: Any, scope: dict[str, Any]) -> IO[bytes] | None:
    """The file Twisted spooled this HTTP request's body to, or None (a small body, a WebSocket)."""
    body = getattr(protocol, "content", None)
    if scope.get("type") != "http" or body is None or isinstance(body, io.BytesIO) or body.closed:
        return None
    return body  # type: ignore[no-any-return]


def create_application_with(server: Any, protocol: Any, scope: dict[str, Any], queue: Any) -> Any:
    """daphne's Server.create_application with `queue` as the application's input queue (anything
    with `put_nowait` and `get`): the same steps as daphne's own, which names its queue class itself."""
    assert "application_instance" not in server.connections[protocol]
    scope.setdefault("asgi", {"version": "3.0"})
    instance = server.application(scope=scope, receive=queue.get, send=partial(server.handle_reply, protocol))
    if protocol not in server.connections:
        return None
    server.connections[protocol]["application_instance"] = asyncio.ensure_future(
        instance, loop=asyncio.get_event_loop()
    )
    return queue


def target_text(raw: bytes) -> str:
    return raw.decode("ascii", "replace")


def use_body_limited_requests(http_factory: Any) -> None:
    """Make daphne's HTTP factory, which names its request class itself, build BodyLimitedRequests."""
    build = http_factory.buildProtocol
    if getattr(build, "body_limited", False):
        return

    def build_protocol(addr: Any) -> Any:
        protocol = build(addr)
        if protocol is not None:
            protocol.requestFactory = BodyLimitedRequest
        return protocol

    build_protocol.body_limited = True  # type: ignore[attr-defined]
    http_factory.buildProtocol = build_protocol
