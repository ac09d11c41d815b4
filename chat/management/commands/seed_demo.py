"""`manage.py seed_demo`: demo users (and chats) for trying the API; safe to run again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User

DEMO_PASSWORD = "chat-demo-2026"  # noqa: S105 - documented demo password
DEMO_USERS = [
    ("alice", "Alice", "Liddell"),
    ("bob", "Bob", "Builder"),
    ("carol", "Carol", "Danvers"),
]


class Command(BaseCommand):
    help = f"Create the demo users alice, bob and carol (password {DEMO_PASSWORD!r}) and a few chats. Idempotent."

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
