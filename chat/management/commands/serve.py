"""`manage.py serve`: apply DB_SYNC / DB_SEED, then run daphne on PORT."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


def _daphne_cli() -> Any:
    """daphne's command line, with a server that closes an over-limit frame with 1009.

    Autobahn's default (failByDrop) drops the TCP connection on a frame over the size limit,
    so the client sees 1006 (abnormal closure) instead of the 1009 the contract promises.
    """
    from daphne.cli import CommandLineInterface
    from daphne.server import Server

    class ChatServer(Server):
        def listen_success(self, port: Any) -> None:
            # Called synchronously while the listeners start, before any connection is accepted;
            # protocols copy the factory's options when their connection opens.
            self.ws_factory.setProtocolOptions(failByDrop=False)
            super().listen_success(port)

    class ChatCommandLine(CommandLineInterface):
        server_class = ChatServer

    return ChatCommandLine()


class Command(BaseCommand):
    help = (
        "Serve HTTP and WebSocket with daphne on PORT (default 3010). With DB_SYNC=true it first "
        "applies migrations; with DB_SEED=true it loads the demo users and chats (idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
        parser.add_argument("--port", type=int, default=None, help="port (default: PORT, else 3010)")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.DB_SYNC:
            call_command("migrate", interactive=False, verbosity=1)
        if settings.DB_SEED:
            call_command("seed_demo")
        port = options["port"] or settings.PORT
        self.stdout.write(f"Serving on http://{options['host']}:{port} (ws path /ws/chat/)")
        _daphne_cli().run(
            [
                "--bind",
                options["host"],
                "--port",
                str(port),
                # Frames over 64 KiB are refused by the server itself with close code 1009.
                "--websocket-max-message-size",
                str(settings.WS_MAX_FRAME_BYTES),
                "--websocket-max-frame-size",
                str(settings.WS_MAX_FRAME_BYTES),
                "--application-close-timeout",
                "5",
                "chatproject.asgi:application",
            ]
        )
