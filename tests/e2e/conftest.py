"""Fixtures of the end-to-end tests: one cluster of real servers for the whole package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from tests.e2e.cluster import Cluster, Server, Socket, User, open_socket, run_cluster


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with run_cluster(tmp_path_factory.mktemp("e2e")) as running:
        yield running


Connect = Callable[[Server, User | None], Awaitable[Socket]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Open real sockets; every one still open is closed when the test ends."""
    opened: list[Socket] = []

    async def open_(server: Server, user: User | None) -> Socket:
        sock = await open_socket(server, user)
        opened.append(sock)
        return sock

    yield open_
    for sock in opened:
        await sock.close()
