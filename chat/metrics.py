"""The chat's own Prometheus series (served with the rest at /metrics by core.metrics)."""

from __future__ import annotations

from functools import cache
from typing import Any

from prometheus_client import Counter, Gauge

from core.metrics import TRANSPORTS, bounded

OPEN_SOCKETS = Gauge("chat_open_sockets", "WebSocket connections open on this process.")
MESSAGES_SENT = Counter("chat_messages_sent_total", "Messages stored (new ones, not retries).", ["transport"])
DELIVERIES = Counter("chat_deliveries_total", "Server events written to sockets, by event.", ["event"])

ATTACHMENTS_UPLOADED = Counter("chat_attachments_uploaded_total", "Uploads stored, by kind (image, file).", ["kind"])
ATTACHMENT_BYTES = Counter("chat_attachment_bytes_total", "Bytes of uploads stored (after images are re-encoded).")
ATTACHMENTS_REFUSED = Counter("chat_attachments_refused_total", "Uploads refused, by reason.", ["reason"])
_UPLOAD_KINDS = frozenset({"image", "file"})
_REFUSALS = frozenset({"too_large", "empty", "type", "damaged", "rate_limited", "invalid"})


def attachment_uploaded(kind: str, size: int) -> None:
    ATTACHMENTS_UPLOADED.labels(kind=bounded(kind, _UPLOAD_KINDS)).inc()
    ATTACHMENT_BYTES.inc(size)


def attachment_refused(reason: str) -> None:
    ATTACHMENTS_REFUSED.labels(reason=bounded(reason, _REFUSALS)).inc()


# The per-message series' children, looked up once: `labels()` takes a lock and builds a key on
# every call, ~4x the cost of the increment itself. Their labels are bounded, and so are these caches.
@cache
def _sent(transport: str) -> Any:
    return MESSAGES_SENT.labels(transport=transport)


@cache
def _deliveries(event: str) -> Any:
    return DELIVERIES.labels(event=event)


def message_sent(transport: str) -> None:
    _sent(bounded(transport, TRANSPORTS)).inc()


def delivered(event: str, known: frozenset[str]) -> None:
    """One server event written to a socket; `known` bounds the label (the protocol's events)."""
    _deliveries(bounded(event, known)).inc()
