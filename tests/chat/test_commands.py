"""Management commands: seed_demo, chat_stats, purge_deleted (and their --help)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import User
from chat import presence
from chat.management.commands.seed_demo import DEMO_MESSAGES, DEMO_PASSWORD
from chat.models import Conversation, Message
from chat.services.conversations import mark_read
from chat.services.messages import delete_message
from tests.support.api import send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]


def run(*args: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def help_text(command: str) -> str:
    from django.core.management import load_command_class

    parser = load_command_class("chat", command).create_parser("manage.py", command)
    return parser.format_help()


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        ("seed_demo", ["alice, bob and carol", DEMO_PASSWORD, "Idempotent"]),
        ("chat_stats", ["--top", "--json", "busiest", "online"]),
        ("purge_deleted", ["--older-than", "--dry-run", "DAYS", "deletedAt"]),
    ],
)
def test_help_explains_the_command(command: str, phrases: list[str]) -> None:
    text = help_text(command)
    for phrase in phrases:
        assert phrase in text, (command, phrase)


# --- seed_demo ---------------------------------------------------------------------------------


def _snapshot() -> tuple[Any, ...]:
    return (
        list(User.objects.order_by("pk").values_list("pk", "username", "password", "is_active")),
        list(Conversation.objects.order_by("pk").values_list("pk", "last_message", "last_message_at", "last_seq")),
        list(Message.all_objects.order_by("pk").values_list("pk", "seq", "content", "client_message_id")),
    )


def test_seed_demo_creates_users_and_chats_once(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = run("seed_demo")
    assert "demo users: 3 created" in first
    assert f"demo messages: {len(DEMO_MESSAGES)} created" in first
    alice = User.objects.get(username="alice")
    assert alice.check_password(DEMO_PASSWORD)
    assert Conversation.objects.count() == 3
    assert Message.objects.count() == len(DEMO_MESSAGES)
    pair = Conversation.objects.get(participant_1__username="alice", participant_2__username="bob")
    assert list(Message.objects.filter(conversation=pair).order_by("seq").values_list("seq", flat=True)) == [1, 2, 3, 4]
    assert pair.last_message == DEMO_MESSAGES[3][2]

    before = _snapshot()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = run("seed_demo")
    assert "demo users: 0 created, 3 already there" in again
    assert f"demo messages: 0 created, {len(DEMO_MESSAGES)} already there" in again
    assert _snapshot() == before
    assert callbacks == []  # nothing published either


def test_seed_demo_leaves_a_changed_password_alone(make_user: Callable[..., User]) -> None:
    make_user("alice", password="my-own-password-42")
    run("seed_demo")
    assert User.objects.get(username="alice").check_password("my-own-password-42")


# --- chat_stats --------------------------------------------------------------------------------


def test_chat_stats_counts_everything(make_user: Callable[..., User]) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    make_user("dave", is_active=False)
    for i in range(3):
        send(alice, bob, f"ab{i}")
    gone = send(bob, carol, "bc")
    send(carol, bob, "cb")
    delete_message(user=bob, message_id=gone.pk)
    mark_read(user=bob, conversation_id=Message.objects.filter(receiver=bob).first().conversation_id)  # type: ignore[union-attr]
    presence.socket_connected(carol.pk, "channel-1")

    stats = json.loads(run("chat_stats", "--json", "--top", "1"))
    assert stats["users"] == 4
    assert stats["active_users"] == 3
    assert stats["conversations"] == 2
    assert stats["messages"] == 4
    assert stats["deleted_messages"] == 1
    assert stats["unread_messages"] == 1  # carol's "cb" to bob; alice's three were read by bob
    assert stats["online_users"] == 1
    assert stats["online_usernames"] == ["carol"]
    assert [(c["participants"], c["messages"]) for c in stats["busiest_conversations"]] == [(["alice", "bob"], 3)]

    text = run("chat_stats")
    assert "users:             4 (3 active)" in text
    assert "deleted messages:  1" in text
    assert "online users:      1 carol" in text
    assert "alice <-> bob: 3 messages" in text
    assert "bob <-> carol: 1 messages" in text


@pytest.mark.parametrize("value", ["0", "-1", "x", "1001", "٣"])
def test_chat_stats_refuses_a_bad_top(value: str) -> None:
    with pytest.raises(CommandError, match="--top"):
        call_command("chat_stats", "--top", value)


# --- purge_deleted -----------------------------------------------------------------------------


def _age(message: Message, days: float) -> None:
    Message.all_objects.filter(pk=message.pk).update(deleted_at=timezone.now() - timedelta(days=days))


def test_purge_deleted_removes_only_old_soft_deleted_messages(make_user: Callable[..., User]) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    keep = send(alice, bob, "keep me")
    old = send(alice, bob, "old deleted")
    recent = send(alice, bob, "recently deleted")
    newest = send(bob, alice, "newest, deleted long ago")
    for message in (old, recent, newest):
        delete_message(user=message.sender, message_id=message.pk)
    _age(old, 40)
    _age(newest, 90)
    _age(recent, 5)
    conversation = Conversation.objects.get(pk=keep.conversation_id)
    preview = (conversation.last_message, conversation.last_message_at)
    assert preview[0] == "keep me"

    dry = run("purge_deleted", "--older-than", "30", "--dry-run")
    assert f"conversation {conversation.pk}: would purge 2 message(s) (ids {old.pk}, {newest.pk})" in dry
    assert "would purge 2 message(s) in 1 conversation(s)" in dry
    assert Message.all_objects.count() == 4

    done = run("purge_deleted", "--older-than", "30")
    assert "purged 2 message(s) in 1 conversation(s)" in done
    assert set(Message.all_objects.values_list("pk", flat=True)) == {keep.pk, recent.pk}
    conversation.refresh_from_db()
    assert (conversation.last_message, conversation.last_message_at) == preview
    assert "purged 0 message(s)" in run("purge_deleted", "--older-than", "30")

    assert "purged 1 message(s)" in run("purge_deleted", "--older-than", "0")
    assert list(Message.all_objects.values_list("pk", flat=True)) == [keep.pk]


def test_purge_of_a_fully_deleted_conversation_leaves_an_empty_preview(make_user: Callable[..., User]) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    only = send(alice, bob, "soon gone")
    delete_message(user=alice, message_id=only.pk)
    run("purge_deleted", "--older-than", "0")
    conversation = Conversation.objects.get(pk=only.conversation_id)
    assert conversation.last_message is None
    assert conversation.last_message_at == conversation.created_at
    assert not Message.all_objects.exists()


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "99999999"])
def test_purge_deleted_refuses_a_bad_day_count(value: str) -> None:
    with pytest.raises(CommandError, match="older-than"):
        call_command("purge_deleted", f"--older-than={value}")


def test_purge_deleted_requires_older_than() -> None:
    with pytest.raises(CommandError, match="older-than"):
        call_command("purge_deleted")
