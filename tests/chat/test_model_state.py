"""A hypothesis state machine over the service layer: the model of the chat always equals the database.

Rules: send (with or without a clientMessageId), duplicate send (same id, other content),
delete (by its sender, by the receiver, twice), mark read, and reconnect (resync with
`after=<id>` from any point). After every step the invariants compare the model with what
the selectors and the tables say: seq contiguous from 1 in every conversation, unread counts
per user and per conversation, previews and the conversation order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from accounts.models import User
from chat.models import PREVIEW_LENGTH, Conversation, Message
from chat.selectors.conversations import conversations_for, unread_by_conversation, unread_count
from chat.selectors.messages import messages_in
from chat.services.conversations import mark_read
from chat.services.messages import delete_message, send_message
from chat.services.storage import ordered_pair
from chat.validation import SendRequest
from core.errors import Forbidden, NotFound
from core.pagination import Cursor, CursorPage, PageRequest
from tests.support.figures import figure

MAX_EXAMPLES = 15
STEPS = 25

# Short texts from a small alphabet, sometimes past the preview length, so previews get cut.
CONTENT = st.one_of(
    st.text(alphabet="ab é<>\"'%_", min_size=1, max_size=12).filter(str.strip),
    st.integers(min_value=250, max_value=300).map(lambda n: "x" * n),
)


@dataclass
class Sent:
    id: int
    seq: int
    pair: tuple[int, int]
    sender: int
    receiver: int
    content: str
    client_message_id: str | None
    created_at: datetime
    read: bool = False
    deleted: bool = False


class ChatModel(RuleBasedStateMachine):
    users: list[User] = []

    def __init__(self) -> None:
        super().__init__()
        Message.all_objects.all().delete()
        Conversation.objects.all().delete()
        self.messages: list[Sent] = []
        self.steps = 0

    # --- helpers -------------------------------------------------------------------------

    def _user(self, index: int) -> User:
        return self.users[index]

    def _visible(self, pair: tuple[int, int]) -> list[Sent]:
        return [m for m in self.messages if m.pair == pair and not m.deleted]

    def _pairs(self) -> set[tuple[int, int]]:
        return {m.pair for m in self.messages}

    # --- rules ---------------------------------------------------------------------------

    @rule(
        sender=st.integers(0, 2),
        offset=st.integers(1, 2),
        content=CONTENT,
        client_id=st.one_of(st.none(), st.sampled_from(["c1", "c2", "c3", "c4", "c5"])),
    )
    def send(self, sender: int, offset: int, content: str, client_id: str | None) -> None:
        receiver = (sender + offset) % 3
        s, r = self._user(sender), self._user(receiver)
        earlier = next(
            (
                m
                for m in self.messages
                if client_id is not None and m.sender == s.pk and m.client_message_id == client_id
            ),
            None,
        )
        result = send_message(
            sender=s, request=SendRequest(receiver_id=r.pk, content=content, client_message_id=client_id)
        )
        if earlier is not None:
            # The same sender's clientMessageId again (to anyone): the first message comes back.
            assert not result.created and result.message.pk == earlier.id
            return
        pair = ordered_pair(s.pk, r.pk)
        assert result.created
        expected_seq = 1 + sum(1 for m in self.messages if m.pair == pair)
        assert result.message.seq == expected_seq
        self.messages.append(
            Sent(result.message.pk, result.message.seq, pair, s.pk, r.pk, content, client_id, result.message.created_at)
        )

    @precondition(lambda self: any(m.client_message_id for m in self.messages))
    @rule(data=st.data(), content=CONTENT)
    def duplicate_send(self, data: st.DataObject, content: str) -> None:
        first = data.draw(st.sampled_from([m for m in self.messages if m.client_message_id]))
        sender = User.objects.get(pk=first.sender)
        result = send_message(
            sender=sender,
            request=SendRequest(receiver_id=first.receiver, content=content, client_message_id=first.client_message_id),
        )
        assert not result.created
        assert (result.message.pk, result.message.seq, result.message.content) == (first.id, first.seq, first.content)

    @precondition(lambda self: bool(self.messages))
    @rule(data=st.data(), by_sender=st.booleans())
    def delete(self, data: st.DataObject, by_sender: bool) -> None:
        message = data.draw(st.sampled_from(self.messages))
        who = User.objects.get(pk=message.sender if by_sender else message.receiver)
        if message.deleted:
            with pytest.raises(NotFound):
                delete_message(user=who, message_id=message.id)
        elif not by_sender:
            with pytest.raises(Forbidden):
                delete_message(user=who, message_id=message.id)
        else:
            delete_message(user=who, message_id=message.id)
            message.deleted = True

    @precondition(lambda self: bool(self.messages))
    @rule(data=st.data(), reader_is_first=st.booleans())
    def mark_read(self, data: st.DataObject, reader_is_first: bool) -> None:
        pair = data.draw(st.sampled_from(sorted(self._pairs())))
        reader_id = pair[0] if reader_is_first else pair[1]
        reader = User.objects.get(pk=reader_id)
        conversation = Conversation.objects.get(participant_1_id=pair[0], participant_2_id=pair[1])
        expected = [m for m in self._visible(pair) if m.receiver == reader_id and not m.read]
        result = mark_read(user=reader, conversation_id=conversation.pk)
        assert result.updated == len(expected)
        for m in expected:
            m.read = True

    @precondition(lambda self: bool(self.messages))
    @rule(data=st.data(), limit=st.integers(1, 4))
    def reconnect_and_resync(self, data: st.DataObject, limit: int) -> None:
        """A client that last saw message `after` pages forward with after= until hasMore is false."""
        pair = data.draw(st.sampled_from(sorted(self._pairs())))
        start = data.draw(st.sampled_from([m.id for m in self.messages if m.pair == pair]))
        user = User.objects.get(pk=pair[data.draw(st.integers(0, 1))])
        conversation = Conversation.objects.get(participant_1_id=pair[0], participant_2_id=pair[1])
        got: list[int] = []
        after = start
        while True:
            page = messages_in(user, conversation.pk, page=PageRequest(1, limit), cursor=Cursor(after=after))
            assert isinstance(page, CursorPage)
            got += [m.pk for m in page.items]
            if not page.has_more:
                break
            after = page.items[-1].pk
        # Everything after the cursor, in order, once: also when the cursor itself was deleted.
        assert got == [m.id for m in self._visible(pair) if m.id > start]

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def seq_is_contiguous_in_every_conversation(self) -> None:
        for conversation in Conversation.objects.all():
            seqs = list(
                Message.all_objects.filter(conversation=conversation).order_by("seq").values_list("seq", flat=True)
            )
            assert seqs == list(range(1, len(seqs) + 1))
            assert conversation.last_seq == len(seqs)

    @invariant()
    def unread_counts_match(self) -> None:
        for user in self.users:
            mine = [m for m in self.messages if m.receiver == user.pk and not m.read and not m.deleted]
            assert unread_count(user) == len(mine)
            by_conversation = {
                (row.conversation.participant_1_id, row.conversation.participant_2_id): row.unread_count
                for row in unread_by_conversation(user)
            }
            expected: dict[tuple[int, int], int] = {}
            for m in mine:
                expected[m.pair] = expected.get(m.pair, 0) + 1
            assert by_conversation == expected

    @invariant()
    def previews_and_lists_match(self) -> None:
        for user in self.users:
            page = conversations_for(user, page=PageRequest(1, 100))
            pairs = {pair for pair in self._pairs() if user.pk in pair}
            assert page.total == len(pairs)
            for conversation in page.items:
                pair = (conversation.participant_1_id, conversation.participant_2_id)
                visible = self._visible(pair)
                newest = visible[-1] if visible else None
                assert conversation.last_message == (newest.content[:PREVIEW_LENGTH] if newest else None)
                if newest is not None:
                    assert conversation.last_message_at == newest.created_at
                unread = sum(1 for m in visible if m.receiver == user.pk and not m.read)
                assert conversation.unread_count == unread
            times = [c.last_message_at for c in page.items]
            assert times == sorted(times, reverse=True)

    @invariant()
    def full_history_equals_the_model(self) -> None:
        for pair in self._pairs():
            conversation = Conversation.objects.get(participant_1_id=pair[0], participant_2_id=pair[1])
            user = User.objects.get(pk=pair[0])
            page = messages_in(user, conversation.pk, page=PageRequest(1, 100))
            assert [(m.pk, m.seq, m.is_read) for m in page.items] == [
                (m.id, m.seq, m.read) for m in self._visible(pair)
            ]


@pytest.mark.django_db
def test_the_model_always_equals_the_database(make_user: Callable[..., User], no_rate_limit: None) -> None:
    ChatModel.users = [make_user(f"m{i}") for i in range(3)]
    started = time.monotonic()
    run_state_machine_as_test(
        ChatModel,
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            database=None,
            # No shrinking: on a failure it spent minutes here; the printed steps are enough.
            phases=[Phase.explicit, Phase.generate],
        ),
    )
    figure(f"\nstate machine: {MAX_EXAMPLES} runs of up to {STEPS} steps in {time.monotonic() - started:.1f} s")
