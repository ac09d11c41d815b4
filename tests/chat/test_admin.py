"""The Django admin for conversations and messages: pages render, search and filters work,
soft-deleted rows are visible to staff, and the moderation actions keep the preview right."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from chat.models import Conversation, Message
from chat.services import conversations, messages
from tests.support.api import send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]

MESSAGES = "/admin/chat/message/"
CONVERSATIONS = "/admin/chat/conversation/"


@pytest.fixture
def admin_client(make_user: Callable[..., User]) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def page(client: Client, path: str, params: dict[str, Any] | None = None) -> str:
    response = client.get(path, params or {})
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def act(client: Client, action: str, messages: list[Message]) -> None:
    response = client.post(MESSAGES, {"action": action, "_selected_action": [m.pk for m in messages]})
    assert response.status_code == 302, response.content.decode()[:500]


def preview_of(message: Message) -> tuple[str | None, Any]:
    conversation = Conversation.objects.get(pk=message.conversation_id)
    return conversation.last_message, conversation.last_message_at


def services_delete(user: User, message: Message) -> None:
    messages.delete_message(user=user, message_id=message.pk)


# --- pages -----------------------------------------------------------------------------------


def test_conversation_changelist_shows_participants_and_preview(admin_client: Client, alice: User, bob: User) -> None:
    send(alice, bob, "preview text")
    html = page(admin_client, CONVERSATIONS)
    assert "alice" in html and "bob" in html and "preview text" in html


def test_conversation_change_page_links_to_its_messages_and_users(admin_client: Client, alice: User, bob: User) -> None:
    message = send(alice, bob)
    html = page(admin_client, f"{CONVERSATIONS}{message.conversation_id}/change/")
    assert f"{MESSAGES}?conversation__id__exact={message.conversation_id}" in html
    assert f"/admin/accounts/user/{alice.pk}/change/" in html


def test_message_changelist_includes_soft_deleted_messages(admin_client: Client, alice: User, bob: User) -> None:
    gone = send(alice, bob, "removed words")
    services_delete(alice, gone)
    assert "removed words" in page(admin_client, MESSAGES)


def test_message_change_page_renders_for_a_soft_deleted_message(admin_client: Client, alice: User, bob: User) -> None:
    gone = send(alice, bob, "removed words")
    services_delete(alice, gone)
    html = page(admin_client, f"{MESSAGES}{gone.pk}/change/")
    assert "removed words" in html
    assert f"{CONVERSATIONS}{gone.conversation_id}/change/" in html


def test_message_content_is_shown_escaped(admin_client: Client, alice: User, bob: User) -> None:
    send(alice, bob, "<script>alert(1)</script>")
    html = page(admin_client, MESSAGES)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_message_search_matches_content(admin_client: Client, alice: User, bob: User) -> None:
    send(alice, bob, "find the Needle here")
    send(alice, bob, "nothing to see")
    html = page(admin_client, MESSAGES, {"q": "needle"})
    assert "find the Needle here" in html
    assert "nothing to see" not in html


def test_message_search_matches_usernames(admin_client: Client, alice: User, bob: User, carol: User) -> None:
    send(alice, bob, "to bob")
    send(carol, alice, "from carol")
    html = page(admin_client, MESSAGES, {"q": "carol"})
    assert "from carol" in html
    assert "to bob" not in html


@pytest.mark.parametrize(("value", "shown", "hidden"), [("yes", "gone", "kept"), ("no", "kept", "gone")])
def test_message_deleted_filter(
    admin_client: Client, alice: User, bob: User, value: str, shown: str, hidden: str
) -> None:
    send(alice, bob, "kept")
    services_delete(alice, send(alice, bob, "gone"))
    html = page(admin_client, MESSAGES, {"deleted": value})
    assert f">{shown}<" in html
    assert f">{hidden}<" not in html


def test_message_read_filter(admin_client: Client, alice: User, bob: User) -> None:
    read = send(alice, bob, "read one")
    conversations.mark_read(user=bob, conversation_id=read.conversation_id)
    send(alice, bob, "unread one")
    html = page(admin_client, MESSAGES, {"is_read__exact": "0"})
    assert "unread one" in html
    assert ">read one<" not in html


def test_messages_link_filters_to_one_conversation(admin_client: Client, alice: User, bob: User, carol: User) -> None:
    mine = send(alice, bob, "in this one")
    send(alice, carol, "in another")
    html = page(admin_client, MESSAGES, {"conversation__id__exact": mine.conversation_id})
    assert "in this one" in html
    assert "in another" not in html


def test_conversation_search_matches_a_participant(admin_client: Client, alice: User, bob: User, carol: User) -> None:
    send(alice, bob, "alice and bob")
    send(bob, carol, "bob and carol")
    html = page(admin_client, CONVERSATIONS, {"q": "carol"})
    assert "bob and carol" in html
    assert "alice and bob" not in html


def test_admin_offers_no_add_pages(admin_client: Client) -> None:
    assert admin_client.get(f"{MESSAGES}add/").status_code == 403
    assert admin_client.get(f"{CONVERSATIONS}add/").status_code == 403


def test_admin_offers_no_hard_delete(admin_client: Client, alice: User, bob: User) -> None:
    message = send(alice, bob)
    assert admin_client.get(f"{MESSAGES}{message.pk}/delete/").status_code == 403
    assert Message.all_objects.filter(pk=message.pk).exists()


def test_admin_is_closed_to_users_who_are_not_staff(alice: User) -> None:
    client = Client()
    client.force_login(alice)
    assert client.get(MESSAGES).status_code == 302


# --- actions ---------------------------------------------------------------------------------


def test_soft_delete_action_hides_messages_from_users(admin_client: Client, alice: User, bob: User) -> None:
    message = send(alice, bob, "abusive")
    act(admin_client, "soft_delete", [message])
    assert not Message.objects.filter(pk=message.pk).exists()
    assert Message.all_objects.get(pk=message.pk).deleted_at is not None


def test_soft_delete_action_falls_back_to_the_newest_message_left(admin_client: Client, alice: User, bob: User) -> None:
    kept = send(alice, bob, "kept")
    act(admin_client, "soft_delete", [send(bob, alice, "abusive")])
    assert preview_of(kept) == ("kept", kept.created_at)


def test_restore_action_brings_a_message_back(admin_client: Client, alice: User, bob: User) -> None:
    message = send(alice, bob, "restored")
    services_delete(alice, message)
    act(admin_client, "restore", [message])
    assert Message.objects.get(pk=message.pk).deleted_at is None


def test_restoring_the_newest_message_makes_it_the_preview_again(admin_client: Client, alice: User, bob: User) -> None:
    send(alice, bob, "older")
    newest = send(alice, bob, "newest")
    services_delete(alice, newest)
    act(admin_client, "restore", [newest])
    assert preview_of(newest) == ("newest", newest.created_at)


def test_restoring_an_older_message_keeps_the_newer_preview(admin_client: Client, alice: User, bob: User) -> None:
    older = send(alice, bob, "older")
    newest = send(alice, bob, "newest")
    services_delete(alice, older)
    act(admin_client, "restore", [older])
    assert preview_of(newest) == ("newest", newest.created_at)


def test_actions_cover_several_conversations_at_once(admin_client: Client, alice: User, bob: User, carol: User) -> None:
    keep_bob = send(alice, bob, "bob keeps")
    keep_carol = send(alice, carol, "carol keeps")
    act(admin_client, "soft_delete", [send(alice, bob, "x"), send(alice, carol, "y")])
    assert (preview_of(keep_bob)[0], preview_of(keep_carol)[0]) == ("bob keeps", "carol keeps")


def test_conversation_list_links_each_row_to_its_messages(admin_client: Client, alice: User, bob: User) -> None:
    message = send(alice, bob, "linked")
    html = page(admin_client, CONVERSATIONS)
    assert f"{MESSAGES}?conversation__id__exact={message.conversation_id}" in html


def test_message_list_drills_down_by_date(admin_client: Client, alice: User, bob: User) -> None:
    message = send(alice, bob, "dated")
    html = page(admin_client, MESSAGES)
    assert 'class="toplinks"' in html  # the date hierarchy bar
    assert f"created_at__year={message.created_at.year}" in html


def test_message_change_page_shows_the_texts_its_edits_replaced(admin_client: Client, alice: User, bob: User) -> None:
    from chat.services.edits import edit_message
    from chat.validation import EditRequest

    message = send(alice, bob, "first <draft>")
    edit_message(user=alice, request=EditRequest(message.pk, "second draft"))
    edit_message(user=alice, request=EditRequest(message.pk, "final text"))
    html = page(admin_client, f"{MESSAGES}{message.pk}/change/")
    assert "earlier texts (before each edit)" in html.lower()
    assert html.index("first &lt;draft&gt;") < html.index("second draft")
    assert "final text" in html and "<draft>" not in html
