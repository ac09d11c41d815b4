"""Sustained persisted chat: pairs of users, senders on one process, receivers on the other.

Each sender sends `send_message` frames (with a ref and a clientMessageId) at a fixed
schedule whatever the acks do (open loop), so a slow server shows as latency and backlog
instead of quietly lowering the offered rate. Each receiver sits in the conversation room
and timestamps every `new_message`. The ledger (stored once, delivered once) is checked by
the caller against the database.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.sockets import Client, open_client


@dataclass(frozen=True)
class Pair:
    sender_id: int
    sender_token: str
    receiver_id: int
    receiver_token: str
    conversation_id: int


@dataclass
class StepRecord:
    tag: str
    offered: float
    duration: float
    started: float = 0.0
    sent_at: dict[str, float] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    delivered: Counter[str] = field(default_factory=Counter)
    received_at: dict[str, float] = field(default_factory=dict)

    def latencies_ms(self) -> list[float]:
        return [(self.received_at[c] - t) * 1000 for c, t in self.sent_at.items() if c in self.received_at]

    def ack_latencies_ms(self) -> list[float]:
        """Sender → its ack (the send path alone: parse, store, publish, answer)."""
        return [(self.acked_at[c] - t) * 1000 for c, t in self.sent_at.items() if c in self.acked_at]

    def acked_per_second(self) -> float:
        if not self.acked_at:
            return 0.0
        span = max(self.acked_at.values()) - self.started
        return len(self.acked_at) / max(span, self.duration)

    def settled(self) -> bool:
        replied = len(self.acked_at) + len(self.errors) >= len(self.sent_at)
        return replied and all(c in self.received_at for c in self.acked_at)


class ChatLoad:
    """Holds the pairs' sockets across the steps, so each step measures sending, not connecting."""

    def __init__(self, pairs: list[Pair], urls: list[str]) -> None:
        self.pairs = pairs
        self.urls = urls
        self.senders: list[Client] = []
        self.receivers: list[Client] = []
        self.current: StepRecord | None = None
        # With receipts on, every receiver confirms every new_message (mark_delivered), as the web client does.
        self.receipts = False
        self._confirming: set[asyncio.Task[None]] = set()

    def _on_sender_frame(self, frame: dict[str, Any], now: float) -> None:
        record = self.current
        if record is None:
            return
        ref = frame.get("ref")
        if not isinstance(ref, str) or ref not in record.sent_at:
            return
        if frame["event"] == "ack":
            record.acked_at[ref] = now
        elif frame["event"] == "error":
            record.errors[ref] = str(frame["data"].get("code"))

    def _on_receiver_frame(self, index: int, frame: dict[str, Any], now: float) -> None:
        record = self.current
        if record is None or frame.get("event") != "new_message":
            return
        client_id = frame["data"].get("clientMessageId")
        if not isinstance(client_id, str):
            return
        record.delivered[client_id] += 1
        record.received_at.setdefault(client_id, now)
        if self.receipts and index < len(self.receivers):
            data = {"conversationId": frame["data"]["conversationId"], "upToMessageId": frame["data"]["id"]}
            task = asyncio.ensure_future(self.receivers[index].send("mark_delivered", data))
            self._confirming.add(task)
            task.add_done_callback(self._confirming.discard)

    async def open(self) -> None:
        """Sender i on process i % 2, its receiver on the other one, so every message crosses processes."""
        gate = asyncio.Semaphore(100)

        async def pair_up(index: int, pair: Pair) -> tuple[Client, Client]:
            async with gate:
                sender = await open_client(self.urls[index % 2], pair.sender_token, self._on_sender_frame)
                receiver = await open_client(
                    self.urls[(index + 1) % 2],
                    pair.receiver_token,
                    lambda frame, now: self._on_receiver_frame(index, frame, now),
                )
                await receiver.request("join_conversation", {"conversationId": pair.conversation_id})
                return sender, receiver

        opened = await asyncio.gather(*(pair_up(i, p) for i, p in enumerate(self.pairs)))
        self.senders = [s for s, _ in opened]
        self.receivers = [r for _, r in opened]

    async def step(self, tag: str, rate: float, duration: float, drain: float = 5.0) -> StepRecord:
        """Offer `rate` msg/s in total for `duration` s, then wait up to `drain` s for acks and deliveries."""
        record = StepRecord(tag=tag, offered=rate, duration=duration)
        self.current = record
        count = len(self.pairs)
        interval = count / rate
        started = time.perf_counter() + 0.05
        record.started = started
        end = started + duration

        async def send_loop(index: int, pair: Pair, client: Client) -> None:
            offset = interval * index / count  # spread the senders evenly over one interval
            k = 0
            while True:
                at = started + offset + k * interval
                if at >= end:
                    return
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                client_id = f"{tag}-{index}-{k}"
                data = {
                    "receiverId": pair.receiver_id,
                    "conversationId": pair.conversation_id,
                    "content": f"bench message {client_id}",
                    "clientMessageId": client_id,
                }
                record.sent_at[client_id] = time.perf_counter()
                try:
                    await client.send("send_message", data, ref=client_id)
                except Exception as exc:
                    record.errors[client_id] = type(exc).__name__
                k += 1

        await asyncio.gather(
            *(send_loop(i, p, s) for i, (p, s) in enumerate(zip(self.pairs, self.senders, strict=True)))
        )
        deadline = time.perf_counter() + drain
        while not record.settled() and time.perf_counter() < deadline:  # noqa: ASYNC110 - polls a record
            await asyncio.sleep(0.05)
        self.current = None
        return record

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.senders + self.receivers))
