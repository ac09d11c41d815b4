"""A Socket.IO client for the Node peer: Engine.IO v4 over a plain `websockets` connection.

The same library and the same reading task as bench/sockets.py, so the load client costs about
the same on both sides of the comparison. Only what the bench needs: the WebSocket transport
from the start (no polling upgrade), the default namespace with an `auth` payload, events,
acks, and the server's pings. Packets: `0` open, `2`/`3` ping/pong, `40` connect, `44` connect
error, `42[name, data]` event, `42<id>[...]` event wanting an ack, `43<id>[...]` the ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.sockets import FrameHandler


class SocketIOClient:
    def __init__(self, ws: ClientConnection, on_frame: FrameHandler | None = None) -> None:
        self.ws = ws
        self.on_frame = on_frame
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.ids = itertools.count(1)
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[dict[str, Any]] = loop.create_future()  # Engine.IO's open packet
        self.connected: asyncio.Future[dict[str, Any]] = loop.create_future()  # the namespace accepted us
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                text = raw if isinstance(raw, str) else raw.decode()
                kind = text[:1]
                if kind == "2":
                    await self.ws.send("3")
                elif kind == "0" and not self.opened.done():
                    self.opened.set_result(orjson.loads(text[1:]))
                elif kind == "4":
                    self._packet(text[1:], now)
        except (ConnectionClosed, OSError):
            pass
        finally:
            closed = ConnectionError("socket closed")
            for waiting in (self.opened, self.connected):
                if not waiting.done():
                    waiting.set_exception(closed)
                    waiting.exception()  # mark retrieved: an early close is counted, not logged
            for future in self.acks.values():
                if not future.done():
                    future.set_exception(closed)
                    future.exception()
            self.acks.clear()

    def _packet(self, text: str, now: float) -> None:
        kind, body = text[:1], text[1:]
        if kind == "0":
            if not self.connected.done():
                self.connected.set_result(orjson.loads(body) if body else {})
        elif kind == "4":
            if not self.connected.done():
                self.connected.set_exception(ConnectionRefusedError(body))
                self.connected.exception()
        elif kind in ("2", "3"):
            digits = len(body) - len(body.lstrip("0123456789"))
            ack_id, args = (int(body[:digits]) if digits else None), orjson.loads(body[digits:])
            if kind == "3":
                future = self.acks.pop(ack_id, None) if ack_id is not None else None
                if future is not None and not future.done():
                    future.set_result(args[0] if args else None)
            elif self.on_frame is not None:
                self.on_frame({"event": args[0], "data": args[1] if len(args) > 1 else None}, now)

    async def emit(self, event: str, data: Any) -> None:
        await self.ws.send("42" + orjson.dumps([event, data]).decode())

    async def request(self, event: str, data: Any, within: float = 10.0) -> Any:
        """Emit with an ack and return the ack's first argument."""
        ack_id = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = future
        await self.ws.send(f"42{ack_id}" + orjson.dumps([event, data]).decode())
        return await asyncio.wait_for(future, within)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader


async def open_socketio(
    base_url: str, token: str, on_frame: FrameHandler | None = None, within: float = 15.0
) -> SocketIOClient:
    """Connect to `ws://host:port`, join the default namespace with `{token}` as auth, return when accepted."""
    ws = await connect(
        f"{base_url}/socket.io/?EIO=4&transport=websocket",
        compression=None,
        open_timeout=within,
        ping_interval=None,
        max_size=2**20,
        close_timeout=2,
    )
    client = SocketIOClient(ws, on_frame)
    try:
        await asyncio.wait_for(asyncio.shield(client.opened), within)
        await ws.send("40" + orjson.dumps({"token": token}).decode())
        await asyncio.wait_for(asyncio.shield(client.connected), within)
    except BaseException:
        client.reader.cancel()
        ws.transport.abort()
        raise
    return client
