"""`manage.py purge_deleted --older-than DAYS [--dry-run]`: hard-delete old soft-deleted messages
(and their files), and remove uploads that no message took within ATTACHMENT_UNSENT_HOURS."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from chat.services.attachments import purge_unsent_uploads
from chat.services.moderation import purge_deleted_messages

MAX_DAYS = 36_500


def days(value: str) -> int:
    """A whole number of days, 0..36500 (ASCII digits only)."""
    if not re.fullmatch(r"[0-9]{1,6}", value.strip()) or int(value) > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be a whole number of days from 0 to {MAX_DAYS}, got {value!r}")
    return int(value)


class Command(BaseCommand):
    help = (
        "Hard-delete messages that were soft-deleted more than DAYS days ago (their deletedAt is older). "
        "Conversation previews stay as they are (they only show visible messages); their attachments' "
        "files go with them. Uploads in no message after 24 h are removed too (as by purge_uploads). "
        "With --dry-run nothing is deleted and the same report says what would be. "
        "Example: manage.py purge_deleted --older-than 30 --dry-run"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=days,
            required=True,
            metavar="DAYS",
            help="purge messages whose deletedAt is more than DAYS days ago (0 = every soft-deleted message)",
        )
        parser.add_argument("--dry-run", action="store_true", help="report what would be purged, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = timezone.now() - timedelta(days=options["older_than"])
        dry_run: bool = options["dry_run"]
        purged = purge_deleted_messages(deleted_before=cutoff, dry_run=dry_run)
        verb = "would purge" if dry_run else "purged"
        for conversation_id, message_ids in purged.items():
            ids = ", ".join(str(i) for i in message_ids[:20]) + (", ..." if len(message_ids) > 20 else "")
            self.stdout.write(f"conversation {conversation_id}: {verb} {len(message_ids)} message(s) (ids {ids})")
        total = sum(len(ids) for ids in purged.values())
        self.stdout.write(
            f"{verb} {total} message(s) in {len(purged)} conversation(s), soft-deleted before {cutoff.isoformat()}"
        )
        uploads = purge_unsent_uploads(dry_run=dry_run)
        self.stdout.write(f"{'would remove' if dry_run else 'removed'} {uploads} unsent upload(s)")
