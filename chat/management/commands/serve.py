"""`manage.py serve`: apply DB_SYNC / DB_SEED, then run daphne on PORT."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


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
        from daphne.cli import CommandLineInterface

        port = options["port"] or settings.PORT
        self.stdout.write(f"Serving on http://{options['host']}:{port} (ws path /ws/chat/)")
        CommandLineInterface().run(
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
