"""The chat's own Prometheus series (served with the rest at /metrics by core.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from core.metrics import TRANSPORTS, bounded

OPEN_SOCKETS = Gauge("chat_open_sockets", "WebSocket connections open on this process.")
MESSAGES_SENT = Counter("chat_messages_sent_total", "Messages stored (new ones, not retries).", ["transport"])
DELIVERIES = Counter("chat_deliveries_total", "Server events written to sockets, by event.", ["event"])


def message_sent(transport: str) -> None:
    MESSAGES_SENT.labels(transport=bounded(transport, TRANSPORTS)).inc()


def delivered(event: str, known: frozenset[str]) -> None:
    """One server event written to a socket; `known` bounds the label (the protocol's events)."""
    DELIVERIES.labels(event=bounded(event, known)).inc()
