"""Sending uploads: attachmentIds through the one send path, `attachments` on every message
shape, who can reach the files, and what deleting, restoring and purging do to them."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from chat.models import Attachment, Conversation, Message
from chat.services import moderation
from chat.services.attachments import Upload, purge_unsent_uploads, upload_attachment
from chat.services.messages import Send, send_messages
from chat.validation import MAX_ATTACHMENTS, SendRequest
from tests.support import files
from tests.support.api import (
    ATTACHMENT_KEYS,
    ATTACHMENTS,
    SEND,
    assert_failure,
    data_of,
    message_url,
    messages_url,
    search_url,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]


def uploaded(user: User, name: str = "note.txt", data: bytes = b"some text\n") -> Attachment:
    return upload_attachment(uploader=user, upload=Upload(name, len(data), io.BytesIO(data)))


def stored_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def fetch(url: str) -> Any:
    return APIClient().get(url)


def test_a_send_with_attachments_and_no_text_carries_them(as_alice: APIClient, alice: User, bob: User) -> None:
    photo, note = uploaded(alice, "p.png", files.png()), uploaded(alice)
    body = {"receiverId": bob.pk, "attachmentIds": [note.pk, photo.pk]}
    data = data_of(as_alice.post(SEND, body, format="json"), 201)
    assert data["content"] == ""
    assert [a["id"] for a in data["attachments"]] == [photo.pk, note.pk]  # upload order
    assert all(set(a) == ATTACHMENT_KEYS for a in data["attachments"])
    assert set(Attachment.objects.values_list("message_id", flat=True)) == {data["id"]}


def test_the_receiver_gets_working_links_in_the_history_and_search(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    note = uploaded(alice, data=b"for bob\n")
    sent = data_of(
        as_alice.post(SEND, {"receiverId": bob.pk, "content": "see", "attachmentIds": [note.pk]}, format="json"), 201
    )
    history = data_of(as_bob.get(messages_url(sent["conversation_id"])))["messages"]
    (attachment,) = history[0]["attachments"]
    assert b"".join(fetch(attachment["url"]).streaming_content) == b"for bob\n"
    found = data_of(as_bob.get(search_url(sent["conversation_id"]), {"q": "see"}))["messages"]
    assert found[0]["attachments"][0]["id"] == note.pk


def test_a_message_without_attachments_has_an_empty_list(as_alice: APIClient, bob: User) -> None:
    assert (
        data_of(as_alice.post(SEND, {"receiverId": bob.pk, "content": "hi"}, format="json"), 201)["attachments"] == []
    )


def test_an_outsider_cannot_reach_the_conversation_or_use_the_upload(
    as_alice: APIClient, client_for: Any, alice: User, bob: User, carol: User
) -> None:
    note = uploaded(alice)
    sent = data_of(
        as_alice.post(SEND, {"receiverId": bob.pk, "content": "x", "attachmentIds": [note.pk]}, format="json"), 201
    )
    as_carol = client_for(carol)
    assert_failure(as_carol.get(messages_url(sent["conversation_id"])), 404)
    # Carol cannot take alice's upload into a message of her own either.
    body = assert_failure(as_carol.post(SEND, {"receiverId": bob.pk, "attachmentIds": [note.pk]}, format="json"), 400)
    assert "attachmentIds" in body["errors"]


@pytest.mark.parametrize(
    ("ids", "problem"),
    [
        (list(range(1, MAX_ATTACHMENTS + 2)), "at most 10"),
        ([1, 1], "distinct"),
        ("1", "list"),
        ([True], "list"),
        ([0], "list"),
    ],
)
def test_malformed_attachment_ids_are_a_400(as_alice: APIClient, bob: User, ids: Any, problem: str) -> None:
    body = assert_failure(as_alice.post(SEND, {"receiverId": bob.pk, "attachmentIds": ids}, format="json"), 400)
    assert problem in body["errors"]["attachmentIds"][0]
    assert not Message.objects.exists()


def test_someone_elses_upload_is_a_400_and_stores_nothing(as_alice: APIClient, bob: User, carol: User) -> None:
    theirs = uploaded(carol)
    body = assert_failure(as_alice.post(SEND, {"receiverId": bob.pk, "attachmentIds": [theirs.pk]}, format="json"), 400)
    assert body["errors"]["attachmentIds"]
    assert not Message.objects.exists()
    theirs.refresh_from_db()
    assert theirs.message_id is None


def test_an_upload_already_in_a_message_is_a_400(as_alice: APIClient, alice: User, bob: User, carol: User) -> None:
    note = uploaded(alice)
    data_of(as_alice.post(SEND, {"receiverId": bob.pk, "attachmentIds": [note.pk]}, format="json"), 201)
    assert_failure(as_alice.post(SEND, {"receiverId": carol.pk, "attachmentIds": [note.pk]}, format="json"), 400)
    assert Message.objects.count() == 1


def test_one_bad_id_among_good_ones_links_none(as_alice: APIClient, alice: User, bob: User) -> None:
    mine = uploaded(alice)
    assert_failure(as_alice.post(SEND, {"receiverId": bob.pk, "attachmentIds": [mine.pk, 999_999]}, format="json"), 400)
    mine.refresh_from_db()
    assert mine.message_id is None


def test_text_is_still_required_without_attachments(as_alice: APIClient, bob: User) -> None:
    for body in (
        {"receiverId": bob.pk},
        {"receiverId": bob.pk, "content": "  "},
        {"receiverId": bob.pk, "attachmentIds": []},
    ):
        assert "content" in assert_failure(as_alice.post(SEND, body, format="json"), 400)["errors"]


def test_two_sends_of_one_batch_cannot_share_an_upload(alice: User, bob: User, carol: User) -> None:
    note = uploaded(alice)
    answers = send_messages(
        sends=[
            Send(alice, SendRequest(receiver_id=bob.pk, content="one", attachment_ids=(note.pk,))),
            Send(alice, SendRequest(receiver_id=carol.pk, content="two", attachment_ids=(note.pk,))),
        ]
    )
    assert [type(a).__name__ for a in answers] == ["SendResult", "Invalid"]
    assert Message.objects.get().content == "one"


def test_a_retried_client_message_id_answers_the_first_message_with_its_attachments(
    as_alice: APIClient, alice: User, bob: User
) -> None:
    note = uploaded(alice)
    body = {"receiverId": bob.pk, "attachmentIds": [note.pk], "clientMessageId": "c-1"}
    first = data_of(as_alice.post(SEND, body, format="json"), 201)
    again = data_of(as_alice.post(SEND, body, format="json"), 200)
    assert again["id"] == first["id"]
    assert [a["id"] for a in again["attachments"]] == [note.pk]


def test_deleting_the_message_makes_its_files_unreachable_at_once(
    as_alice: APIClient, alice: User, bob: User, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    photo = uploaded(alice, "p.png", files.png())
    sent = data_of(as_alice.post(SEND, {"receiverId": bob.pk, "attachmentIds": [photo.pk]}, format="json"), 201)
    links = [sent["attachments"][0]["url"], sent["attachments"][0]["thumbnail_url"]]
    assert all(fetch(url).status_code == 200 for url in links)
    with django_capture_on_commit_callbacks(execute=True):
        data_of(as_alice.delete(message_url(sent["id"])))
    assert [fetch(url).status_code for url in links] == [404, 404]
    assert stored_files(media_root) == set()  # gone from the store too (presigned S3 links die with them)


def test_a_restored_message_comes_back_without_its_files(
    alice: User, bob: User, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    note = uploaded(alice)
    message = send_messages(
        sends=[Send(alice, SendRequest(receiver_id=bob.pk, content="x", attachment_ids=(note.pk,)))]
    )[0]
    message_id = message.message.pk  # type: ignore[union-attr]
    with django_capture_on_commit_callbacks(execute=True):
        moderation.moderate_messages(message_ids=[message_id], deleted=True)
    with django_capture_on_commit_callbacks(execute=True):
        moderation.moderate_messages(message_ids=[message_id], deleted=False)
    assert Message.objects.get(pk=message_id).attachment_items() == []
    assert stored_files(media_root) == set()


def test_purging_deleted_messages_removes_their_files(
    alice: User, bob: User, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    note = uploaded(alice)
    answer = send_messages(
        sends=[Send(alice, SendRequest(receiver_id=bob.pk, content="x", attachment_ids=(note.pk,)))]
    )[0]
    message_id = answer.message.pk  # type: ignore[union-attr]
    # Deleted without going through the service, as a row from before this feature would be.
    Message.all_objects.filter(pk=message_id).update(deleted_at=timezone.now() - timedelta(days=40))
    assert stored_files(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_deleted", "--older-than", "30", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == set()


def test_unsent_uploads_older_than_a_day_are_removed_and_the_rest_kept(
    alice: User, bob: User, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    old, fresh, sent = uploaded(alice, "old.txt"), uploaded(alice, "fresh.txt"), uploaded(alice, "sent.txt")
    send_messages(sends=[Send(alice, SendRequest(receiver_id=bob.pk, content="x", attachment_ids=(sent.pk,)))])
    Attachment.objects.filter(pk__in=[old.pk, sent.pk]).update(created_at=timezone.now() - timedelta(hours=25))
    assert purge_unsent_uploads(dry_run=True) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_unsent_uploads() == 1
    assert set(Attachment.objects.values_list("pk", flat=True)) == {fresh.pk, sent.pk}
    assert stored_files(media_root) == {fresh.file, sent.file}


def test_the_purge_commands_remove_stale_uploads(
    alice: User, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    for command in (["purge_uploads"], ["purge_deleted", "--older-than", "30"]):
        stale = uploaded(alice)
        Attachment.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=25))
        with django_capture_on_commit_callbacks(execute=True), open("/dev/null", "w") as out:
            call_command(*command, stdout=out)
        assert not Attachment.objects.filter(pk=stale.pk).exists(), command
    assert stored_files(media_root) == set()


def test_an_upload_from_rest_then_a_send_over_rest(as_alice: APIClient, bob: User) -> None:
    uploaded_ = data_of(
        as_alice.post(ATTACHMENTS, {"file": SimpleUploadedFile("a.pdf", files.pdf())}, format="multipart"), 201
    )
    sent = data_of(as_alice.post(SEND, {"receiverId": bob.pk, "attachmentIds": [uploaded_["id"]]}, format="json"), 201)
    assert sent["attachments"][0]["content_type"] == "application/pdf"


def test_a_message_of_attachments_only_gives_the_conversation_a_preview(
    as_alice: APIClient, alice: User, bob: User
) -> None:
    one = data_of(
        as_alice.post(SEND, {"receiverId": bob.pk, "attachmentIds": [uploaded(alice).pk]}, format="json"), 201
    )
    conversation = Conversation.objects.get(pk=one["conversation_id"])
    assert conversation.last_message == "📎 Attachment"
    two = [uploaded(alice).pk, uploaded(alice).pk]
    data_of(as_alice.post(SEND, {"receiverId": bob.pk, "attachmentIds": two}, format="json"), 201)
    conversation.refresh_from_db()
    assert conversation.last_message == "📎 2 attachments"
    text = data_of(as_alice.post(SEND, {"receiverId": bob.pk, "content": "hi"}, format="json"), 201)
    data_of(as_alice.delete(message_url(text["id"])))  # the preview falls back to the newest one left
    conversation.refresh_from_db()
    assert conversation.last_message == "📎 2 attachments"
