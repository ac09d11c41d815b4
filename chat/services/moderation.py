"""Staff actions on anyone's messages: soft-delete and restore (the admin), and purging old deletions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from chat import events
from chat.models import Attachment, Conversation, Message
from chat.services.attachments import (
    files_of,
    forget_attachments_of,
    remove_files_after_commit,
    remove_files_of_messages,
)
from chat.services.storage import refresh_preview

PURGE_BATCH_CONVERSATIONS = 500


def moderate_messages(*, message_ids: Iterable[int], deleted: bool) -> int:
    """Staff moderation (the admin): soft-delete (`deleted=True`) or restore messages of anyone.

    The same rules as a sender's delete: each touched conversation is locked (in id order, so two
    moderators cannot deadlock) and its preview recomputed, and deletions are published after
    commit. Restoring publishes nothing (the contract has no such event); clients see the message
    again on their next read. Returns how many messages changed state.
    """
    ids = [int(i) for i in message_ids]
    now = timezone.now()
    with transaction.atomic():
        conversation_ids = set(
            Message.all_objects.filter(pk__in=ids, deleted_at__isnull=deleted).values_list("conversation_id", flat=True)
        )
        conversations = list(Conversation.objects.select_for_update().filter(pk__in=conversation_ids).order_by("pk"))
        # Re-read under the locks: a sender's delete may have changed a row since the first read.
        changing = list(
            Message.all_objects.filter(pk__in=ids, deleted_at__isnull=deleted, conversation_id__in=conversation_ids)
        )
        Message.all_objects.filter(pk__in=[m.pk for m in changing]).update(
            deleted_at=now if deleted else None, updated_at=now
        )
        for conversation in conversations:
            refresh_preview(conversation)
        if deleted:
            remove_files_of_messages([m.pk for m in changing])
        else:
            forget_attachments_of([m.pk for m in changing])  # their files went when they were deleted
        if deleted:
            for message in changing:
                events.message_deleted(message)
    return len(changing)


def purge_deleted_messages(*, deleted_before: datetime, dry_run: bool = False) -> dict[int, list[int]]:
    """Hard-delete messages soft-deleted before `deleted_before`; {conversation id: [message ids]}.

    Each batch of conversations is locked (in id order, like moderation) and the deleted state is
    re-checked under the locks, so a message restored meanwhile survives; previews are recomputed
    (they only ever show visible messages, so they stay as they were). Their seq numbers are not
    reused: a purged message leaves a gap, as a soft-deleted one already hid its number.
    """
    stale = Message.all_objects.filter(deleted_at__lt=deleted_before)
    conversation_ids = sorted(set(stale.values_list("conversation_id", flat=True)))
    purged: dict[int, list[int]] = {}
    for start in range(0, len(conversation_ids), PURGE_BATCH_CONVERSATIONS):
        batch = conversation_ids[start : start + PURGE_BATCH_CONVERSATIONS]
        with transaction.atomic():
            conversations = list(Conversation.objects.select_for_update().filter(pk__in=batch).order_by("pk"))
            rows = stale.filter(conversation_id__in=batch).order_by("conversation_id", "id")
            for conversation_id, message_id in rows.values_list("conversation_id", "id"):
                purged.setdefault(conversation_id, []).append(message_id)
            if not dry_run:
                # Their attachments' files (normally gone at the delete: this catches any left).
                names = files_of(Attachment.objects.filter(message__in=rows))
                rows.delete()  # the rows just listed, their attachments with them: the locks keep them as they were
                remove_files_after_commit(names)
                for conversation in conversations:
                    refresh_preview(conversation)
    return purged
