"""The moderation queue in the Django admin: reports listed open first, and the three actions
(dismiss, soft-delete the message, deactivate the sender), each through its service."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from accounts.models import User
from chat.models import Conversation, Message, Report
from chat.services import reports
from chat.validation import ReportRequest
from tests.support.api import send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]

REPORTS = "/admin/chat/report/"


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def report(reporter: User, message: Message, reason: str = "abuse") -> Report:
    return reports.report_message(user=reporter, message_id=message.pk, request=ReportRequest(reason)).report


def act(client: Client, action: str, chosen: list[Report]) -> str:
    response = client.post(REPORTS, {"action": action, "_selected_action": [r.pk for r in chosen]}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_queue_lists_open_reports_first_with_message_sender_and_reporter(
    admin_client: Client, alice: User, bob: User, carol: User
) -> None:
    old = report(alice, send(bob, alice, "first insult"))
    new = report(alice, send(carol, alice, "second insult"), "spam")
    reports.dismiss(report_ids=[new.pk], staff=User.objects.get(username="root"))
    page = admin_client.get(REPORTS).content.decode()
    assert page.index("first insult") < page.index("second insult")  # open before closed
    assert "bob" in page and "carol" in page
    filtered = admin_client.get(REPORTS, {"status__exact": "open"}).content.decode()
    assert "first insult" in filtered and "second insult" not in filtered
    assert admin_client.get(f"{REPORTS}{old.pk}/change/").status_code == 200


def test_dismiss_closes_the_reports_and_changes_nothing_else(
    admin_client: Client, staff: User, alice: User, bob: User
) -> None:
    message = send(bob, alice, "meh")
    filed = report(alice, message)
    assert "1 report(s) dismissed." in act(admin_client, "dismiss", [filed])
    filed.refresh_from_db()
    assert (filed.status, filed.resolution, filed.resolved_by) == ("dismissed", "dismissed", staff)
    assert filed.resolved_at is not None
    assert Message.objects.filter(pk=message.pk).exists() and User.objects.get(pk=bob.pk).is_active


def test_deleting_the_reported_message_goes_through_moderation(admin_client: Client, alice: User, bob: User) -> None:
    kept = send(bob, alice, "fine")
    bad = send(bob, alice, "vile")
    filed = report(alice, bad)
    assert "1 message(s) deleted." in act(admin_client, "delete_messages", [filed])
    assert not Message.objects.filter(pk=bad.pk).exists() and Message.all_objects.get(pk=bad.pk).is_deleted
    conversation = Conversation.objects.get()
    assert conversation.last_message == "fine" and kept.pk  # the preview fell back
    filed.refresh_from_db()
    assert (filed.status, filed.resolution) == ("actioned", "message deleted")


def test_deactivating_the_sender_goes_through_accounts(admin_client: Client, alice: User, bob: User) -> None:
    filed = report(alice, send(bob, alice, "spam spam"), "spam")
    assert "1 user(s) deactivated." in act(admin_client, "deactivate_senders", [filed])
    assert User.objects.get(pk=bob.pk).is_active is False
    filed.refresh_from_db()
    assert (filed.status, filed.resolution) == ("actioned", "sender deactivated")
    assert User.objects.get(pk=alice.pk).is_active


def test_reports_cannot_be_added_or_deleted_in_the_admin(admin_client: Client, alice: User, bob: User) -> None:
    filed = report(alice, send(bob, alice))
    assert admin_client.get(f"{REPORTS}add/").status_code == 403
    assert admin_client.post(f"{REPORTS}{filed.pk}/delete/").status_code == 403
    assert Report.objects.count() == 1


def test_a_report_keeps_what_was_reported_after_the_message_is_purged(
    admin_client: Client, staff: User, alice: User, bob: User
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from chat.services import moderation

    filed = report(alice, send(bob, alice, "evidence"))
    reports.delete_reported_messages(report_ids=[filed.pk], staff=staff)
    moderation.purge_deleted_messages(deleted_before=timezone.now() + timedelta(seconds=1))
    assert not Message.all_objects.exists()
    filed.refresh_from_db()
    assert (filed.message_id, filed.content, filed.sender_id, filed.status) == (None, "evidence", bob.pk, "actioned")
    page = admin_client.get(REPORTS).content.decode()
    assert "evidence" in page and "purged" in page
    assert "1 user(s) deactivated." in act(admin_client, "deactivate_senders", [filed])
