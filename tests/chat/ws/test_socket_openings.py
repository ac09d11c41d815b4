"""Sockets that start together start in one call (chat.services.sockets.sockets_opened): one
statement and one store round trip for all of them, and still each answered on its own. Sockets
that join rooms together (rooms_joined) or close together (sockets_closed) do so in one call too."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.auth import SocketIdentity, identity_of, tokens_for, validated_access_token
from accounts.models import User
from chat import events, presence
from chat.services import sockets
from core.errors import Unauthenticated
from tests.support.api import send

QUIET = 0.15  # how long "nothing arrives" is watched for


def _opening(user: User, channel: str, *, as_user: int | None = None) -> sockets.Opening:
    token = validated_access_token(tokens_for(user)["access"])
    return sockets.Opening(as_user or user.pk, channel, functools.partial(identity_of, token))


@pytest.mark.django_db
def test_each_socket_of_a_batch_gets_its_own_answer_from_one_statement(
    alice: User, bob: User, carol: User, settings: Any
) -> None:
    settings.MAX_SOCKETS_PER_USER = 2
    presence.socket_connected(carol.pk, "carol-1")
    presence.socket_connected(carol.pk, "carol-2")
    bobs = _opening(bob, "bob-1")
    User.objects.filter(pk=bob.pk).update(is_active=False)  # bob's token was issued before
    openings = [
        _opening(alice, "alice-1"),
        bobs,
        _opening(carol, "carol-3"),  # a third socket: over the cap
        _opening(alice, "alice-2"),
        _opening(alice, "nobody-1", as_user=10**12),  # a token naming no one
    ]
    with CaptureQueriesContext(connection) as queries:
        answers = sockets.sockets_opened(openings)
    assert len(queries) == 1, [q["sql"] for q in queries]
    first, refused, capped, second, nobody = answers
    assert isinstance(first, tuple) and isinstance(second, tuple)
    assert isinstance(first[0], SocketIdentity) and first[0].user.pk == second[0].user.pk == alice.pk
    assert isinstance(refused, Unauthenticated) and isinstance(nobody, Unauthenticated)
    assert isinstance(capped, sockets.TooManySockets)
    # Alice's two sockets both count; carol's third was not kept; bob's was never recorded.
    assert presence.socket_connected(alice.pk, "alice-3")[0] == 3
    assert presence.socket_connected(carol.pk, "carol-2")[0] == 2
    assert presence.socket_connected(bob.pk, "bob-2") == (1, True)


@pytest.mark.django_db(transaction=True)
async def test_users_coming_online_in_one_batch_are_each_announced_once_to_their_partners(
    alice: User, bob: User, carol: User, make_user: Any
) -> None:
    dave, stranger = await database_sync_to_async(lambda: (make_user("dave"), make_user("stranger")))()
    await database_sync_to_async(lambda: (send(alice, bob), send(carol, dave)))()
    layer = get_channel_layer()
    heard: dict[str, str] = {}
    for listener in (bob, dave, stranger):
        heard[listener.username] = channel = await layer.new_channel()
        await layer.group_add(events.user_group(listener.pk), channel)
    openings = await database_sync_to_async(
        lambda: [_opening(alice, "alice-1"), _opening(carol, "carol-1"), _opening(alice, "alice-2")]
    )()
    answers = await database_sync_to_async(sockets.sockets_opened)(openings)
    assert all(isinstance(a, tuple) for a in answers)
    for listener, who in (("bob", alice), ("dave", carol)):
        message = await asyncio.wait_for(layer.receive(heard[listener]), timeout=2)
        assert (message["event"], message["data"]["userId"], message["data"]["isOnline"]) == ("presence", who.pk, True)
    for listener in ("bob", "dave", "stranger"):  # alice's second socket is no news; strangers hear nothing
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(heard[listener]), timeout=QUIET)


@pytest.mark.django_db
def test_sockets_closing_together_store_last_seen_in_one_statement(alice: User, bob: User, carol: User) -> None:
    for user, channel in ((alice, "alice-1"), (alice, "alice-2"), (bob, "bob-1"), (carol, "carol-1")):
        presence.socket_connected(user.pk, channel)
    closings = [
        sockets.Closing(alice.pk, "alice-1", ()),
        sockets.Closing(bob.pk, "bob-1", (7,)),
        sockets.Closing(alice.pk, "alice-2", ()),
    ]
    with CaptureQueriesContext(connection) as queries:
        answers = sockets.sockets_closed(closings)
    assert len(queries) == 1, [q["sql"] for q in queries]
    first, bobs, last = answers
    assert first is None and bobs is not None and last == bobs  # alice's first socket was not her last
    seen = dict(User.objects.filter(pk__in=[alice.pk, bob.pk, carol.pk]).values_list("pk", "last_seen_at"))
    assert seen == {alice.pk: bobs, bob.pk: bobs, carol.pk: None}
    since = f"{bobs.timestamp():.6f}"  # the closes they went away at, for the offline announcements
    assert presence.announce_offline([bob.pk], since) == [True]
    assert presence.announce_offline([carol.pk], since) == [False]
    assert sockets.sockets_closed([sockets.Closing(carol.pk, "carol-2", ())]) == [None]  # not carol's socket


@pytest.mark.django_db(transaction=True)
async def test_rooms_joined_together_are_checked_by_one_statement_and_each_told_once(
    alice: User, bob: User, carol: User, settings: Any
) -> None:
    settings.ROOM_EVENT_INTERVAL_SECONDS = 60
    theirs = await database_sync_to_async(lambda: (send(alice, bob).conversation, send(carol, bob).conversation))()
    ab, cb = theirs
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(events.conversation_group(ab.pk), listener)
    await layer.group_add(events.conversation_group(cb.pk), listener)
    joinings = [
        sockets.Joining(alice, ab.pk, "alice-1"),
        sockets.Joining(alice, cb.pk, "alice-1"),  # not hers: NotFound, as for an id that does not exist
        sockets.Joining(bob, ab.pk, "bob-1"),
        sockets.Joining(alice, ab.pk, "alice-2"),  # her second socket there: no news
        sockets.Joining(bob, 2**63, "bob-1"),  # beyond any id
    ]

    def joined() -> tuple[list[Any], int]:
        with CaptureQueriesContext(connection) as queries:
            answers = sockets.rooms_joined(joinings)
        return answers, len(queries)

    answers, statements = await database_sync_to_async(joined)()
    assert statements == 1
    assert [a.pk if not isinstance(a, Exception) else type(a).__name__ for a in answers] == [
        ab.pk, "NotFound", ab.pk, ab.pk, "NotFound",
    ]  # fmt: skip
    told = [await asyncio.wait_for(layer.receive(listener), timeout=2) for _ in range(2)]
    assert sorted((m["event"], m["data"]["userId"]) for m in told) == sorted(
        [("user_joined", alice.pk), ("user_joined", bob.pk)]
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(listener), timeout=QUIET)
    assert await database_sync_to_async(presence.user_in_room)(ab.pk, alice.pk)
    assert not await database_sync_to_async(presence.user_in_room)(cb.pk, alice.pk)
