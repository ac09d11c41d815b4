"""`manage.py chat_stats [--top N] [--json]`: how much the chat is used, from the database and presence."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count, Q

from accounts.models import User
from accounts.presence import online_among
from chat.models import Conversation, Message

MAX_TOP = 1000
PRESENCE_BATCH = 1000


def top_count(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_TOP:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_TOP}, got {value!r}")
    return int(value)


def online_users() -> list[str]:
    """Usernames of active users with a live socket on any process (presence store), sorted."""
    online: list[str] = []
    ids = list(User.objects.filter(is_active=True).order_by("username").values_list("id", "username"))
    for start in range(0, len(ids), PRESENCE_BATCH):
        batch = ids[start : start + PRESENCE_BATCH]
        live = online_among(uid for uid, _ in batch)
        online.extend(name for uid, name in batch if uid in live)
    return online


def collect(top: int) -> dict[str, Any]:
    users = User.objects.aggregate(total=Count("id"), active=Count("id", filter=Q(is_active=True)))
    messages = Message.all_objects.aggregate(
        visible=Count("id", filter=Q(deleted_at__isnull=True)),
        deleted=Count("id", filter=Q(deleted_at__isnull=False)),
        unread=Count("id", filter=Q(deleted_at__isnull=True, is_read=False)),
    )
    busiest = (
        Conversation.objects.annotate(message_count=Count("messages", filter=Q(messages__deleted_at__isnull=True)))
        .filter(message_count__gt=0)
        .select_related("participant_1", "participant_2")
        .order_by("-message_count", "-last_message_at", "id")[:top]
    )
    online = online_users()
    return {
        "users": users["total"],
        "active_users": users["active"],
        "conversations": Conversation.objects.count(),
        "messages": messages["visible"],
        "deleted_messages": messages["deleted"],
        "unread_messages": messages["unread"],
        "busiest_conversations": [
            {
                "id": c.pk,
                "participants": [c.participant_1.username, c.participant_2.username],
                "messages": c.message_count,
                "last_message_at": c.last_message_at.isoformat() if c.last_message_at else None,
            }
            for c in busiest
        ],
        "online_users": len(online),
        "online_usernames": online,
    }


class Command(BaseCommand):
    help = (
        "Print chat statistics: users (all and active), conversations, messages (visible, soft-deleted, "
        "unread), the busiest conversations by visible messages (--top N, default 5) and the users online "
        "now (a live socket on any server process). --json prints one JSON object instead. "
        "Example: manage.py chat_stats --top 10 --json"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--top", type=top_count, default=5, metavar="N", help="how many busiest conversations (1..1000)"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")

    def handle(self, *args: Any, **options: Any) -> None:
        stats = collect(options["top"])
        if options["json"]:
            self.stdout.write(json.dumps(stats, indent=2))
            return
        self.stdout.write(f"users:             {stats['users']} ({stats['active_users']} active)")
        self.stdout.write(f"conversations:     {stats['conversations']}")
        self.stdout.write(f"messages:          {stats['messages']}")
        self.stdout.write(f"deleted messages:  {stats['deleted_messages']}")
        self.stdout.write(f"unread messages:   {stats['unread_messages']}")
        self.stdout.write(f"online users:      {stats['online_users']} {' '.join(stats['online_usernames'])}".rstrip())
        self.stdout.write(f"busiest conversations (top {options['top']}):")
        if not stats["busiest_conversations"]:
            self.stdout.write("  (none)")
        for row in stats["busiest_conversations"]:
            a, b = row["participants"]
            self.stdout.write(
                f"  #{row['id']:<6} {a} <-> {b}: {row['messages']} messages, last {row['last_message_at']}"
            )
