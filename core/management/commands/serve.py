"""`manage.py serve`: apply DB_SYNC / DB_SEED, then run daphne on PORT, shutting down gracefully.

Start-up migrations run under a PostgreSQL advisory lock (`migrate` is not safe in processes
starting at once); on SIGTERM/SIGINT open sockets get a 1001 close and run `disconnect` before
daphne cancels what is left. docs/operations.md: "Start-up and migrations", "Graceful shutdown".
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

logger = logging.getLogger("chat.serve")

CLOSE_GOING_AWAY = 1001
# Lines an app adds under the links a DEBUG start prints (the chat's demo logins): each returns
# its lines, registered in the app's ready().
START_HINTS: list[Callable[[], list[str]]] = []
SHUTDOWN_GRACE_SECONDS = 5.0
# pg_advisory_lock key of the start-up database work ("chatmigr" in ASCII); advisory locks are
# per database, so deployments sharing one PostgreSQL server never wait for each other.
STARTUP_LOCK_KEY = 0x636861746D696772
# Connections the kernel queues for the listener before daphne accepts them (Twisted's default is 50;
# uvicorn's and gunicorn's 2048; the kernel caps it at net.core.somaxconn). A reconnect storm
# overflowing 50 has its SYNs dropped and retried seconds later (docs/benchmarks.md, "listen backlog").
LISTEN_BACKLOG = 2048


def graceful_server_class() -> type:
    """Daphne's Server with a graceful WebSocket shutdown and 1009 for over-limit frames.

    Imported late: daphne.server installs Twisted's asyncio reactor.
    """
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import defer, reactor, task

    from core.daphne_body_limit import (
        SpooledBodyQueue,
        create_application_with,
        spooled_body,
        use_body_limited_requests,
    )
    from core.daphne_tuning import lazy_debug_arguments
    from core.layers import Inbox

    class GracefulServer(Server):  # type: ignore[misc]
        # Set by the command: called once the listener is up (so "Serving on" is never printed for a
        # port that could not be bound), and the reason the listener failed, if it did.
        on_listening: Callable[[], None] | None = None
        listen_failure: BaseException | None = None

        def listen_error(self, failure: Any) -> None:
            # daphne logs CRITICAL and stops, and `run` then returns as if all went well (exit 0);
            # the command reports the failure itself, in one line, and exits non-zero.
            self.listen_failure = failure.value
            self.stop()

        def listen_success(self, port: Any) -> None:
            # Before any connection is accepted. Autobahn's failByDrop would answer an oversized
            # frame with a dropped connection (1006) instead of the 1009 the contract promises.
            self.ws_factory.setProtocolOptions(failByDrop=False)
            use_body_limited_requests(self.http_factory)  # 413 from the headers, before the body is read
            lazy_debug_arguments()  # cheaper connects and frames (docs/benchmarks.md)
            self.__dict__.setdefault("ports", []).append(port)
            super().listen_success(port)
            if self.on_listening is not None:
                self.on_listening()

        def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
            # A body Twisted spooled to disk is read from there as the application asks for it.
            body = spooled_body(protocol, scope)
            if body is not None:
                return create_application_with(self, protocol, scope, SpooledBodyQueue(body))
            if scope.get("type") == "websocket":
                # A socket's frames wait in a slotted inbox rather than an asyncio.Queue (its deques,
                # Event and dict), for as long as the socket is open (docs/benchmarks.md, "input queue").
                return create_application_with(self, protocol, scope, Inbox())
            return super().create_application(protocol, scope)

        def kill_all_applications(self) -> Any:
            closing = defer.ensureDeferred(self.close_websockets())
            closing.addErrback(lambda failure: logger.error("graceful shutdown failed: %s", failure.getErrorMessage()))
            closing.addBoth(lambda _: super(GracefulServer, self).kill_all_applications())
            return closing

        def _open_sockets(self) -> list[Any]:
            return [
                protocol
                for protocol in self.connections
                if isinstance(protocol, WebSocketProtocol) and protocol.state == WebSocketProtocol.STATE_OPEN
            ]

        def _still_closing(self, protocol: Any) -> bool:
            details = self.connections.get(protocol)
            if details is None:
                return False
            application = details.get("application_instance")
            return protocol.state != WebSocketProtocol.STATE_CLOSED or (
                application is not None and not application.done()
            )

        async def close_websockets(self) -> None:
            for port in self.__dict__.get("ports", []):
                port.stopListening()
            sockets = self._open_sockets()
            logger.info("shutting down: closing %d sockets with %d", len(sockets), CLOSE_GOING_AWAY)
            for protocol in sockets:
                # Autobahn's public sendClose refuses the 1000-2999 range to applications; 1001 is
                # exactly the code the RFC gives a server that is going away, so send the frame itself.
                try:
                    protocol.sendCloseFrame(code=CLOSE_GOING_AWAY, reasonUtf8=b"server shutting down")
                except Exception:
                    logger.warning("could not close a socket gracefully", exc_info=True)
            deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
            while any(self._still_closing(p) for p in sockets) and time.monotonic() < deadline:
                await task.deferLater(reactor, 0.05, lambda: None)

    return GracefulServer


def freeze_startup_heap() -> int:
    """Move everything alive after start-up out of the garbage collector's sight (the gc.freeze()
    recipe for servers), so a full collection does not pause every socket of the process to scan
    objects that live for ever (docs/benchmarks.md, "frozen heap"); returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@contextmanager
def startup_lock() -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock STARTUP_LOCK_KEY (waiting for it) for the block.

    The lock is taken on a connection of its own, outside Django's pool, so it lives exactly as long
    as this block, or this process if it dies first. SQLite needs none: the embedded database is
    for one process (its in-memory channel layer could not be shared by a second one anyway).
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    import psycopg

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        taken = conn.execute("SELECT pg_try_advisory_lock(%s)", (STARTUP_LOCK_KEY,)).fetchone()
        if not (taken and taken[0]):
            logger.info("another process is migrating the database; waiting for it")
            conn.execute("SELECT pg_advisory_lock(%s)", (STARTUP_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (STARTUP_LOCK_KEY,))


def browser_host(host: str) -> str:
    """The host to put in a link to a server bound to `host` (every interface: this machine's)."""
    if host in {"0.0.0.0", "::", ""}:
        return "localhost"
    return f"[{host}]" if ":" in host else host


def listen_failure_message(host: str, port: int, error: BaseException) -> str:
    """One line for a listener that could not start, e.g. a port already in use."""
    reason = getattr(error, "socketError", None) or error  # Twisted's CannotListenError wraps the OSError
    text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    hint = " (is another server running there? choose another port with PORT or --port)"
    return f"cannot listen on {host}:{port}: {text.lower()}" + (hint if "in use" in text.lower() else "")


class Command(BaseCommand):
    help = (
        "Serve HTTP and WebSocket with daphne on PORT (default 3010). With DB_SYNC=true it first "
        "applies migrations; with DB_SEED=true it loads the demo users and chats (idempotent). "
        "On SIGTERM/SIGINT open sockets are closed with 1001 (going away) before the process exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="address to bind (default 127.0.0.1: this machine only; the Docker image passes 0.0.0.0)",
        )
        parser.add_argument("--port", type=int, default=None, help="port (default: PORT, else 3010)")

    def handle(self, *args: Any, **options: Any) -> None:
        server_class = graceful_server_class()  # first: daphne must install Twisted's asyncio reactor
        if settings.DB_SYNC or settings.DB_SEED:
            with startup_lock():  # seed_demo is idempotent, but not against itself running twice at once
                if settings.DB_SYNC:
                    call_command("migrate", interactive=False, verbosity=1)
                if settings.DB_SEED:
                    call_command("seed_demo")
        from channels.routing import get_default_application
        from daphne.endpoints import build_endpoint_description_strings

        from core.logging import AccessLog

        application = get_default_application()

        frozen = freeze_startup_heap()
        logger.info("start-up heap frozen: %d objects the collector will not scan", frozen)
        host, port = options["host"], options["port"] or settings.PORT
        server = server_class(
            application=application,
            endpoints=[
                f"{e}:backlog={LISTEN_BACKLOG}" for e in build_endpoint_description_strings(host=host, port=port)
            ],
            action_logger=AccessLog(),
            # Frames over 64 KiB are refused by the server itself with close code 1009.
            websocket_max_message_size=settings.WS_MAX_FRAME_BYTES,
            websocket_max_frame_size=settings.WS_MAX_FRAME_BYTES,
            websocket_connect_timeout=5,
            websocket_handshake_timeout=5,
            application_close_timeout=5,
        )
        server.on_listening = lambda: self.announce(host, port)
        server.run()
        if server.listen_failure is not None:
            raise CommandError(listen_failure_message(host, port, server.listen_failure))

    def announce(self, host: str, port: int) -> None:
        self.stdout.write(f"Serving on http://{host}:{port} (ws path /ws/chat/)")
        if settings.DEBUG:  # the local `make run`: where to go next
            base = f"http://{browser_host(host)}:{port}"
            self.stdout.write(f"  web client   {base}/")
            self.stdout.write(f"  API docs     {base}/api/docs/")
            self.stdout.write(f"  admin        {base}/admin/ (a staff user: make superuser)")
            for line in (line for hint in START_HINTS for line in hint()):
                self.stdout.write(f"  {line}")
        self.stdout.flush()
