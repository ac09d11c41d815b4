"""The load generator's WebSocket side: one asyncio process holding every client socket.

A `Client` reads its socket in a task of its own, answers `ref`-carrying requests with
futures, and hands every other frame (with its arrival time) to a callback, so a sender
can keep sending at its schedule while acks come back whenever they come (open loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

FrameHandler = Callable[[dict[str, Any], float], None]

_refs = itertools.count(1)


class Client:
    def __init__(self, ws: ClientConnection, on_frame: FrameHandler | None = None) -> None:
        self.ws = ws
        self.on_frame = on_frame
        self.pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.connected: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                frame = orjson.loads(raw)
                event = frame.get("event")
                if event == "connected":
                    if not self.connected.done():
                        self.connected.set_result(frame)
                    continue
                if event in ("ack", "error"):
                    future = self.pending.pop(frame.get("ref"), None)
                    if future is not None and not future.done():
                        future.set_result(frame)
                if self.on_frame is not None:
                    self.on_frame(frame, now)
        except (ConnectionClosed, OSError):
            pass
        finally:
            closed = ConnectionError("socket closed")
            if not self.connected.done():
                self.connected.set_exception(closed)
                self.connected.exception()  # mark retrieved: an early close is counted, not logged
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(closed)
                    future.exception()
            self.pending.clear()

    async def send(self, event: str, data: dict[str, Any], ref: Any = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data}
        if ref is not None:
            frame["ref"] = ref
        await self.ws.send(orjson.dumps(frame).decode())

    async def request(self, event: str, data: dict[str, Any], within: float = 10.0) -> dict[str, Any]:
        """Send a frame with a fresh ref and wait for its ack; an `error` reply raises."""
        ref = f"r{next(_refs)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ref] = future
        await self.send(event, data, ref)
        reply = await asyncio.wait_for(future, within)
        if reply["event"] == "error":
            raise RuntimeError(f"{event} failed: {reply['data']}")
        return reply

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader

    def drop(self) -> None:
        """Cut the TCP connection without a close handshake, as a lost network would."""
        self.ws.transport.abort()


async def open_client(
    url: str, token: str | None, on_frame: FrameHandler | None = None, within: float = 15.0
) -> Client:
    """Connect, authenticate with the token in the query (as the bench's non-browser clients do),
    and return once the server said `connected`."""
    target = f"{url}?token={token}" if token else url
    ws = await connect(
        target, compression=None, open_timeout=within, ping_interval=None, max_size=2**20, close_timeout=2
    )
    client = Client(ws, on_frame)
    try:
        await asyncio.wait_for(asyncio.shield(client.connected), within)
    except BaseException:
        client.drop()
        client.reader.cancel()
        raise
    return client


async def open_many(
    targets: list[tuple[str, str | None]],
    *,
    concurrency: int,
    on_frame: Callable[[int], FrameHandler | None] | None = None,
    jitter: float = 0.0,
) -> tuple[list[Client | None], list[str], float]:
    """Open sockets with at most `concurrency` handshakes in flight: (clients, errors, seconds)."""
    import random

    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one(index: int, url: str, token: str | None) -> Client | None:
        if jitter:
            await asyncio.sleep(random.uniform(0, jitter))
        async with gate:
            try:
                return await open_client(url, token, on_frame(index) if on_frame else None)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                return None

    started = time.perf_counter()
    clients = await asyncio.gather(*(one(i, url, token) for i, (url, token) in enumerate(targets)))
    return list(clients), errors, time.perf_counter() - started
