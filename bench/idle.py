"""Idle sockets (memory per socket, connects per second) and the reconnect storm.

Memory is the growth of the server process's resident set between a warmed-up baseline
and the moment every socket is open, authenticated and in its conversation room, divided
by the sockets that process holds. The bare `websockets` servers get the same sockets, the
same client and the same measurement.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from bench.chat_load import Pair
from bench.servers import cpu_breakdown, cpu_snapshot, rss_bytes
from bench.sockets import Client, FrameHandler, open_client, open_many

CONNECT_CONCURRENCY = 200
STORM_GIVE_UP_SECONDS = 30.0


@dataclass
class IdleResult:
    sockets: int
    connect_seconds: float
    connect_errors: list[str]
    join_seconds: float
    join_errors: list[str]
    rss_growth: list[int]  # bytes, per server process
    per_process: list[int]  # sockets held by each process
    connect_cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per socket opened, by process group

    @property
    def connects_per_second(self) -> float:
        return (self.sockets - len(self.connect_errors)) / self.connect_seconds if self.connect_seconds else 0.0

    @property
    def bytes_per_socket(self) -> float:
        return sum(self.rss_growth) / max(1, sum(self.per_process))


@dataclass
class StormResult:
    sockets: int
    errors: list[str] = field(default_factory=list)
    back: int = 0  # sockets connected and in their room again
    reconnect_seconds: float = 0.0  # drop → every socket connected and back in its room
    recover_seconds: float = 0.0  # drop → a message through every reconnected pair arrived
    not_back_pairs: int = 0  # pairs with a socket still not back when the storm gave up (no probe sent)
    undelivered: int = 0  # probes acked but never delivered to the receiver


def _targets(pairs: list[Pair], urls: list[str]) -> list[tuple[str, str | None]]:
    """Both users of pair j: the first on process j % 2, the second on the other one."""
    targets: list[tuple[str, str | None]] = []
    for j, pair in enumerate(pairs):
        targets.append((urls[j % 2], pair.sender_token))
        targets.append((urls[(j + 1) % 2], pair.receiver_token))
    return targets


async def _join_all(clients: list[Client | None], pairs: list[Pair]) -> tuple[list[str], float]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    errors: list[str] = []

    async def join(index: int, client: Client | None) -> None:
        if client is None:
            return
        async with gate:
            try:
                await client.request("join_conversation", {"conversationId": pairs[index // 2].conversation_id})
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    started = time.perf_counter()
    await asyncio.gather(*(join(i, c) for i, c in enumerate(clients)))
    return errors, time.perf_counter() - started


async def _settled_rss(pids: list[int], settle: float) -> list[int]:
    await asyncio.sleep(settle)
    return [rss_bytes(pid) for pid in pids]


async def hold_idle(
    pairs: list[Pair], urls: list[str], pids: list[int], *, join: bool = True, settle: float = 2.0
) -> tuple[IdleResult, list[Client | None]]:
    """Open two sockets per pair (split over the processes), join each to its room, measure; keep them open."""
    warm, _, _ = await open_many(_targets(pairs[:10], urls), concurrency=20)
    if join:
        await _join_all(warm, pairs[:10])
    await asyncio.gather(*(c.close() for c in warm if c is not None))
    before = await _settled_rss(pids, settle)
    targets = _targets(pairs, urls)
    cpu_before = cpu_snapshot()
    clients, connect_errors, connect_seconds = await open_many(targets, concurrency=CONNECT_CONCURRENCY)
    named = {pid: f"server_{'ab'[i]}" if i < 2 else f"server_{i}" for i, pid in enumerate(pids)}
    named[os.getpid()] = "client"
    spent = cpu_breakdown(cpu_before, cpu_snapshot(), named)
    join_errors, join_seconds = await _join_all(clients, pairs) if join else ([], 0.0)
    after = await _settled_rss(pids, settle)
    per_process = [sum(1 for url, _ in targets if url == u) for u in urls]
    result = IdleResult(
        sockets=len(targets),
        connect_seconds=connect_seconds,
        connect_errors=connect_errors,
        join_seconds=join_seconds,
        join_errors=join_errors,
        rss_growth=[a - b for a, b in zip(after, before, strict=True)],
        per_process=per_process,
        connect_cpu_ms={k: v * 1000 / max(1, len(targets)) for k, v in spent.items()},
    )
    return result, clients


async def storm(clients: list[Client | None], pairs: list[Pair], urls: list[str]) -> StormResult:
    """Cut every socket at once; each comes back as the web client does (first retry after
    0.375-0.625 s, then exponential backoff with jitter), rejoins its room, and one message
    per pair must then get through. Errors are failed attempts; recovery ends with the last
    probe message delivered."""
    count = len(clients) - len(clients) % 2
    n_pairs = count // 2
    result = StormResult(sockets=count)
    for client in clients[:count]:
        if client is not None:
            client.drop()
    dropped = time.perf_counter()
    received: dict[int, float] = {}
    targets = _targets(pairs[:n_pairs], urls)
    fresh: list[Client | None] = [None] * count

    def receiver_handler(j: int) -> FrameHandler:
        def on_frame(frame: dict[str, Any], now: float) -> None:
            if frame.get("event") == "new_message" and str(frame["data"].get("clientMessageId", "")).startswith(
                "storm-"
            ):
                received.setdefault(j, now)

        return on_frame

    async def come_back(index: int) -> None:
        url, token = targets[index]
        attempt = 0
        await asyncio.sleep(random.uniform(0.375, 0.625))
        while time.perf_counter() - dropped < STORM_GIVE_UP_SECONDS:
            try:
                client = await open_client(url, token, receiver_handler(index // 2) if index % 2 else None)
                await client.request("join_conversation", {"conversationId": pairs[index // 2].conversation_id})
                fresh[index] = client
                return
            except Exception as exc:
                result.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                delay = min(15.0, 0.5 * 2 ** (attempt + 1)) * random.uniform(0.75, 1.25)
                attempt += 1
                await asyncio.sleep(delay)

    await asyncio.gather(*(come_back(i) for i in range(count)))
    result.reconnect_seconds = time.perf_counter() - dropped
    result.back = sum(1 for c in fresh if c is not None)

    probed: set[int] = set()

    async def probe(j: int) -> None:
        sender = fresh[2 * j]
        if sender is None or fresh[2 * j + 1] is None:
            return
        pair = pairs[j]
        try:
            await sender.request(
                "send_message",
                {
                    "receiverId": pair.receiver_id,
                    "conversationId": pair.conversation_id,
                    "content": "back after the storm",
                    "clientMessageId": f"storm-{j}-{int(dropped * 1000)}",
                },
            )
            probed.add(j)
        except Exception as exc:
            result.errors.append(f"probe {type(exc).__name__}: {exc}"[:200])

    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def gated_probe(j: int) -> None:
        async with gate:
            await probe(j)

    await asyncio.gather(*(gated_probe(j) for j in range(n_pairs)))
    deadline = time.perf_counter() + 10
    while not probed <= received.keys() and time.perf_counter() < deadline:  # noqa: ASYNC110 - polls a dict
        await asyncio.sleep(0.02)
    result.not_back_pairs = sum(1 for j in range(n_pairs) if fresh[2 * j] is None or fresh[2 * j + 1] is None)
    result.undelivered = len(probed - received.keys())
    result.recover_seconds = (max(received.values()) if received else time.perf_counter()) - dropped
    clients[:count] = fresh
    return result


async def close_all(clients: list[Client | None]) -> None:
    gate = asyncio.Semaphore(500)

    async def close(client: Client) -> None:
        async with gate:
            await client.close()

    await asyncio.gather(*(close(c) for c in clients if c is not None))
