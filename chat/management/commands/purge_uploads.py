"""`manage.py purge_uploads [--dry-run]`: remove uploads that no message took within 24 h."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from chat.services.attachments import purge_unsent_uploads


class Command(BaseCommand):
    help = (
        "Remove uploads (rows and files) that are in no message and older than "
        f"{settings.ATTACHMENT_UNSENT_HOURS} hours. purge_deleted does the same after its own work; "
        "this runs it alone (e.g. hourly). With --dry-run nothing is removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would be removed, remove nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        count = purge_unsent_uploads(dry_run=dry_run)
        self.stdout.write(f"{'would remove' if dry_run else 'removed'} {count} unsent upload(s)")
