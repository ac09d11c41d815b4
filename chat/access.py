"""Who may see what: a conversation or message is visible to its two participants only.

Everyone else gets NotFound, exactly like an id that does not exist, so ids cannot be probed.
Services and selectors both ask here; neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from accounts.models import User
from chat.models import Conversation, Message
from core.db import MAX_ID, by_pk, by_pks_with
from core.errors import NotFound


def conversation_of_participant(user: User, conversation_id: int, *, lock: bool = False) -> Conversation:
    """The conversation if `user` takes part in it (row-locked with `lock`); NotFound otherwise."""
    if not 0 < conversation_id <= MAX_ID:
        raise NotFound("No such conversation.")
    if lock:
        conversation = Conversation.objects.filter(pk=conversation_id).select_for_update().first()
    else:
        conversation = by_pk(Conversation, conversation_id)
    answer = _of_participant(user, conversation)
    if isinstance(answer, NotFound):
        raise answer
    return answer


def _of_participant(user: User, conversation: Conversation | None) -> Conversation | NotFound:
    if conversation is None or not conversation.has_participant(user.pk):
        return NotFound("No such conversation.")
    return conversation


def conversations_of_participants(requests: Sequence[tuple[User, int]]) -> list[Conversation | NotFound]:
    """`conversation_of_participant` for each (user, conversation id), in one statement: the
    conversation, or the NotFound to raise for it."""
    found = by_pks_with(Conversation, [conversation_id for _, conversation_id in requests])
    return [_of_participant(user, row[0] if (row := found.get(cid)) is not None else None) for user, cid in requests]


def require_participant(user: User, conversation: Conversation) -> Conversation:
    """The same rule for a conversation already loaded (a socket's joined room)."""
    if not conversation.has_participant(user.pk):
        raise NotFound("No such conversation.")
    return conversation


def message_of_participant(user: User, message_id: int) -> Message:
    """A visible message of a conversation `user` takes part in; NotFound otherwise."""
    message = (
        Message.objects.select_related("conversation").filter(pk=message_id).first()
        if 0 < message_id <= MAX_ID
        else None
    )
    if message is None or not message.conversation.has_participant(user.pk):
        raise NotFound("No such message.")
    return message
