"""`manage.py seed_demo`: demo users and a few chats for trying the API; safe to run again."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from chat.services.messages import send_message
from chat.validation import SendRequest

DEMO_PASSWORD = "chat-demo-2026"  # noqa: S105 - documented demo password
DEMO_USERS = [
    ("alice", "Alice", "Liddell"),
    ("bob", "Bob", "Builder"),
    ("carol", "Carol", "Danvers"),
]
# (sender, receiver, content): sent in this order, each with its own clientMessageId, so a
# second run finds every one already there and stores nothing.
DEMO_MESSAGES = [
    ("alice", "bob", "Hi Bob! Are we still on for lunch tomorrow?"),
    ("bob", "alice", "Yes! 12:30 at the usual place?"),
    ("alice", "bob", "Perfect, see you there."),
    ("bob", "alice", "I'll bring the plans for the new shed."),
    ("carol", "alice", "Alice, did you get the slides I sent?"),
    ("alice", "carol", "Got them, thanks. Reviewing tonight."),
    ("bob", "carol", "Carol, can you fly me to the hardware store?"),
]


def demo_logins() -> list[str]:
    """What `manage.py serve` prints under its links when it seeded the demo users."""
    if not settings.DB_SEED:
        return []
    names = ", ".join(username for username, _, _ in DEMO_USERS)
    return [f"demo logins  {names} (password {DEMO_PASSWORD})"]


def _client_id(index: int) -> str:
    return f"seed-demo-{index}"


class Command(BaseCommand):
    help = (
        f"Create the demo users alice, bob and carol (password {DEMO_PASSWORD!r}) and three conversations "
        "between them with a few messages. Idempotent: existing users are left as they are (password "
        "included) and messages already seeded are not sent again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = 0
        with transaction.atomic():
            for username, first, last in DEMO_USERS:
                user, was_created = User.objects.get_or_create(
                    username=username,
                    defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
                )
                if was_created:
                    user.set_password(DEMO_PASSWORD)
                    user.save(update_fields=["password"])
                    created += 1
        self.stdout.write(f"demo users: {created} created, {len(DEMO_USERS) - created} already there")

        users = {u.username: u for u in User.objects.filter(username__in=[u[0] for u in DEMO_USERS], is_active=True)}
        sent = skipped = 0
        for index, (sender, receiver, content) in enumerate(DEMO_MESSAGES, start=1):
            if sender not in users or receiver not in users:
                skipped += 1  # a demo user was deactivated: leave their chats alone
                continue
            request = SendRequest(receiver_id=users[receiver].pk, content=content, client_message_id=_client_id(index))
            # The service returns the first message for a clientMessageId it has seen, storing nothing.
            if send_message(sender=users[sender], request=request).created:
                sent += 1
        self.stdout.write(
            f"demo messages: {sent} created, {len(DEMO_MESSAGES) - sent - skipped} already there"
            + (f", {skipped} skipped (a demo user is deactivated)" if skipped else "")
        )
