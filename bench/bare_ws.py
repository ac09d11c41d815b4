"""A bare `websockets` server: the floor that idle-socket memory and connect rate are compared to.

It does what a socket server cannot avoid (accept, greet, keep the connection, echo a frame)
and nothing the chat does (no auth, no Redis, no database), on the same loopback the chat
servers use. Run as `python -m bench.bare_ws PORT`; SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from websockets.asyncio.server import ServerConnection, serve

GREETING = '{"event":"connected","data":{"userId":0}}'


async def handler(connection: ServerConnection) -> None:
    await connection.send(GREETING)
    async for frame in connection:
        await connection.send(frame)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    # The same frame limit and ping policy as the chat server's daphne settings (64 KiB).
    async with serve(handler, "127.0.0.1", port, max_size=64 * 1024, backlog=4096):
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
