"""One socket's session: who it is and until when, the rooms it sits in, and its timers.

The consumer turns frames into calls; everything that lasts between frames lives here: the
authenticated user and the token's expiry, the conversations checked for membership and the
rooms joined, the heartbeat that keeps presence alive and re-adds the socket to its groups, and
the deadlines that close the socket with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import close_old_connections
from rest_framework_simplejwt.tokens import Token

from accounts.auth import SocketIdentity, identity_of, token_user_id
from accounts.models import User
from chat import events, presence
from chat.access import conversation_of_participant
from chat.models import Conversation
from chat.services import sockets
from chat.ws.batches import queue_for_loop
from core.errors import DomainError, Unauthenticated

logger = logging.getLogger("chat.socket")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_MANY_SOCKETS = 4429  # the user already has MAX_SOCKETS_PER_USER open, on all processes together
CLOSE_UNAVAILABLE = 1011  # the session cannot start: the database or the channel layer (Redis) is unreachable


def in_thread[R](func: Callable[..., R]) -> Callable[..., Awaitable[R]]:
    """Run a blocking call in the worker pool, closing stale DB connections around it.

    thread_sensitive=False lets frames of different sockets run in parallel on the pool instead
    of queueing on one thread; Django's close_old_connections rather than channels.db's, which
    Channels' test communicator patches to a no-op (every worker then kept its connection).
    """

    def wrapped(*args: Any, **kwargs: Any) -> R:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return SyncToAsync(wrapped, thread_sensitive=False)


# Sockets that start together on a process, per worker-thread call (one statement, one Redis
# round trip): a reconnect storm's sockets come back in a few calls, and a batch's statement stays
# small. Two batches at once keep the pool's other connections for frames.
CONNECT_BATCH_MAX = 100
CONNECT_BATCHES_IN_FLIGHT = 2


async def _openings_in_thread(openings: list[sockets.Opening]) -> list[sockets.Opened]:
    return await in_thread(sockets.sockets_opened)(openings)


# Rooms joined together (a reconnect storm rejoins every socket's rooms), per worker-thread call.
JOIN_BATCH_MAX = 100
JOIN_BATCHES_IN_FLIGHT = 2


async def _joinings_in_thread(joinings: list[sockets.Joining]) -> list[Conversation | DomainError]:
    return await in_thread(sockets.rooms_joined)(joinings)


# Sockets that close together, per worker-thread call: a mass disconnect (a network blip, a load
# balancer draining) is recorded in a few calls instead of one per socket, which had the event
# loop seconds behind and daphne killing sessions mid-clean-up (docs/benchmarks.md, "close batches").
CLOSE_BATCH_MAX = 200
CLOSE_BATCHES_IN_FLIGHT = 1


async def _closings_in_thread(closings: list[sockets.Closing]) -> list[None]:
    """Record the closes and schedule the offline announcements here, not in each session: a
    session that daphne stops early (its application close timeout) still has its close recorded."""
    try:
        last_seen = await in_thread(sockets.sockets_closed)(closings)
    except Exception:
        logger.exception("presence update on disconnect failed", extra={"sockets": len(closings)})
        return [None] * len(closings)
    gone = [closing.user_id for closing, seen in zip(closings, last_seen, strict=True) if seen is not None]
    seen_at = next((seen for seen in last_seen if seen is not None), None)  # one moment for the batch
    if seen_at is not None:
        _went_offline_later(gone, seen_at)
    return [None] * len(closings)


class Socket(Protocol):
    """What the session needs of its consumer."""

    channel_name: str
    channel_layer: Any

    def close_soon(self, code: int) -> None: ...


class Session:
    __slots__ = ("_beat", "_timers", "blocked", "expires_at", "known", "rooms", "socket", "user")

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self.user: User | None = None
        self.expires_at: datetime | None = None
        # Conversations this socket's user was found to take part in, and those it joined.
        self.known: dict[int, Conversation] = {}
        self.rooms: dict[int, Conversation] = {}
        # Whom this socket's user blocks or is blocked by (events between them are dropped); the
        # empty frozenset is shared, so a socket that blocks nobody pays nothing for it.
        self.blocked: frozenset[int] = frozenset()
        # Timers, not sleeping tasks: an idle socket costs less (docs/benchmarks.md, "idle sockets").
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._beat: asyncio.Task[None] | None = None

    # --- Authentication ------------------------------------------------------------------

    def await_authentication(self, timeout: float) -> None:
        """A socket that connected without a token must authenticate within `timeout` seconds."""
        self._timer("auth", timeout, self._auth_deadline)

    def _auth_deadline(self) -> None:
        if self.user is None:
            self.socket.close_soon(CLOSE_UNAUTHENTICATED)

    async def start(self, token: Token) -> SocketIdentity | None:
        """Join the personal room, then check the token's user and come online with the sockets
        starting beside it, in one worker-thread call (chat.ws.batches; docs/benchmarks.md,
        "connect batches": `sockets.sockets_opened`); None when the channel layer is unreachable.
        The room comes first, so no block or event committed after the user's state was read is
        missed: the consumer handles what arrives meanwhile once the session has started."""
        user_id = token_user_id(token)
        group = events.user_group(user_id)
        try:
            await self.socket.channel_layer.group_add(group, self.socket.channel_name)
        except Exception:
            # A session outside its personal room would hear nothing. This is the layer's first
            # Redis call for a socket (its channel is made without Redis), so an unreachable Redis
            # shows here: the client retries with backoff.
            logger.warning("channel layer unavailable: closing the new socket", exc_info=True)
            return None
        opening = sockets.Opening(user_id, self.socket.channel_name, functools.partial(identity_of, token))
        try:
            opened = await queue_for_loop(
                _openings_in_thread, max_batch=CONNECT_BATCH_MAX, in_flight=CONNECT_BATCHES_IN_FLIGHT
            ).submit(opening)
            if not isinstance(opened, tuple):
                raise opened
        except BaseException:
            with contextlib.suppress(Exception):
                await self.socket.channel_layer.group_discard(group, self.socket.channel_name)
            raise
        identity, blocked = opened
        self.user = identity.user
        self.blocked = blocked
        self.renew(identity)
        self._timer("heartbeat", presence.HEARTBEAT_SECONDS, self._heartbeat_due)
        return identity

    def renew(self, identity: SocketIdentity) -> None:
        """A fresh token for the same user: the socket now closes when this one expires."""
        self.expires_at = identity.expires_at
        delay = (identity.expires_at - datetime.now(UTC)).total_seconds()
        self._timer("expiry", delay, lambda: self.socket.close_soon(CLOSE_UNAUTHENTICATED))

    def require_user(self) -> User:
        if self.user is None:
            raise Unauthenticated("Authenticate first: send the authenticate event with a token.")
        return self.user

    # --- Conversations -------------------------------------------------------------------

    async def conversation(self, conversation_id: int) -> Conversation:
        """The conversation if this user takes part in it: asked once per socket, then remembered."""
        known = self.known.get(conversation_id)
        if known is None:
            known = await in_thread(conversation_of_participant)(self.require_user(), conversation_id)
            self.known[conversation_id] = known
        return known

    async def join(self, conversation_id: int) -> None:
        if conversation_id in self.rooms:
            return
        joining = sockets.Joining(self.require_user(), conversation_id, self.socket.channel_name)
        conversation = await queue_for_loop(
            _joinings_in_thread, max_batch=JOIN_BATCH_MAX, in_flight=JOIN_BATCHES_IN_FLIGHT
        ).submit(joining)
        if isinstance(conversation, DomainError):
            raise conversation
        self.known[conversation_id] = self.rooms[conversation_id] = conversation
        await self.socket.channel_layer.group_add(events.conversation_group(conversation_id), self.socket.channel_name)

    async def leave(self, conversation_id: int) -> None:
        conversation = self.rooms.pop(conversation_id, None)
        if conversation is None:
            await self.conversation(conversation_id)  # not joined: only answers whether it exists
            return
        await self.socket.channel_layer.group_discard(
            events.conversation_group(conversation_id), self.socket.channel_name
        )
        await in_thread(sockets.leave_room)(
            user=self.require_user(), conversation=conversation, channel_name=self.socket.channel_name
        )

    # --- Lifetime ------------------------------------------------------------------------

    def _timer(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        """(Re)arm the timer `name`; `stop` cancels them all."""
        previous = self._timers.pop(name, None)
        if previous is not None:
            previous.cancel()
        self._timers[name] = asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    def _heartbeat_due(self) -> None:
        if self.user is not None and (self._beat is None or self._beat.done()):
            self._beat = asyncio.ensure_future(self._heartbeat())

    async def _heartbeat(self) -> None:
        """Keep presence and room entries alive while the socket is open (they lapse otherwise)."""
        user = self.user
        if user is None:
            return
        try:
            await in_thread(sockets.socket_beat)(
                user=user, channel_name=self.socket.channel_name, conversation_ids=sorted(self.rooms)
            )
        except Exception:
            logger.warning("presence heartbeat failed", exc_info=True)
        await self._refresh_groups()
        if self.user is not None:
            self._timer("heartbeat", presence.HEARTBEAT_SECONDS, self._heartbeat_due)

    async def _refresh_groups(self) -> None:
        """Re-add the socket to its groups: a layer with a group expiry (the in-memory layer's is
        one day) would otherwise stop delivering to a long-lived socket without a word."""
        if self.user is None:
            return
        targets: list[tuple[str, int | None]] = [(events.user_group(self.user.pk), None)]
        targets += [(events.conversation_group(c), c) for c in sorted(self.rooms)]
        for group, conversation_id in targets:
            # Checked right before each add (no await between), so a room left meanwhile stays left.
            if self.user is None or (conversation_id is not None and conversation_id not in self.rooms):
                continue
            try:
                await self.socket.channel_layer.group_add(group, self.socket.channel_name)
            except Exception:
                logger.warning("channel layer group refresh failed", exc_info=True)
                return

    async def stop(self) -> None:
        """The socket closed: cancel the timers, leave the groups, go offline if it was the last."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._beat is not None:
            self._beat.cancel()
        user, self.user = self.user, None
        if user is None:
            return
        layer, channel = self.socket.channel_layer, self.socket.channel_name
        # Queued first: the close is recorded even if the session is stopped while it leaves the groups.
        recorded = queue_for_loop(
            _closings_in_thread, max_batch=CLOSE_BATCH_MAX, in_flight=CLOSE_BATCHES_IN_FLIGHT
        ).submit(sockets.Closing(user.pk, channel, tuple(sorted(self.rooms))))
        try:
            await layer.group_discard(events.user_group(user.pk), channel)
            for conversation_id in self.rooms:
                await layer.group_discard(events.conversation_group(conversation_id), channel)
        except Exception:
            logger.warning("leaving the channel layer's groups failed", exc_info=True)
        await recorded


# Offline announcements waiting out PRESENCE_GRACE_SECONDS after a user's last socket closed: held
# here so the tasks are not collected mid-flight (the sessions that scheduled them are gone).
_after_grace: set[asyncio.Future[None]] = set()


def _went_offline_later(user_ids: list[int], last_seen_at: datetime) -> None:
    """sockets.went_offline after PRESENCE_GRACE_SECONDS, on this process's loop: one call for the
    users whose last sockets closed in one batch."""

    def due() -> None:
        task = asyncio.ensure_future(in_thread(sockets.went_offline)(user_ids=user_ids, last_seen_at=last_seen_at))
        _after_grace.add(task)
        task.add_done_callback(_announced)

    asyncio.get_running_loop().call_later(max(0.0, float(settings.PRESENCE_GRACE_SECONDS)), due)


def _announced(task: asyncio.Future[None]) -> None:
    _after_grace.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("offline announcement failed", exc_info=task.exception())
