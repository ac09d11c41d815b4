"""`manage.py serve` refuses a request body over its route's limit before reading it, and hands
Django chunked bodies with their length.

Twisted reads a whole body (to a file) before daphne runs the application, and daphne then queues
all of it in memory at once, so a limit the application checks comes too late: the server keeps it.
The limits are core.middleware.body_limit's, shared with Django's middleware. This hooks
Twisted's HTTP/1.1 request (gotLength / handleContentChunk), the only HTTP daphne serves here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from daphne.http_protocol import WebRequest
from twisted.web import http

from core import metrics
from core.middleware import body_limit, too_large_body
from core.rest import dumps

# How long a refused upload's connection stays open, its bytes read and dropped, after the 413.
REFUSED_BODY_LINGER_SECONDS = 2.0


class BodyLimitedRequest(WebRequest):  # type: ignore[misc]
    """daphne's request, answering 413 from the headers, or as soon as a chunked body passes the limit."""

    _limit = 0
    _received = 0
    _chunked = False
    _refused = False
    _linger: Any = None

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
