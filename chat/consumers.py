"""The WebSocket consumer at /ws/chat/: JSON event frames in, acks, errors and events out.

Thin by design: each client frame is parsed and validated by chat.protocol, handled by one call into
chat.services in a worker thread, and answered with `ack` or `error`. Server events
arrive from the channel layer as `chat.event` messages and are forwarded as frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import SyncToAsync
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from accounts.auth import SocketIdentity, identity_from_access_token
from accounts.models import User
from chat import events, presence, ratelimit, services
from chat.errors import ChatError, Forbidden, Unauthenticated
from chat.protocol import FrameError, encode, parse_frame, validate_data
from chat.validation import SendRequest
from chatproject import metrics

logger = logging.getLogger("chat.socket")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_BIG = 1009
CLOSE_UNAVAILABLE = 1011  # the session cannot start: the database or the channel layer (Redis) is unreachable

# Events about a user that the user's own sockets should not see (typing never echoes).
_NOT_TO_SELF = frozenset({"user_typing", "user_stopped_typing", "user_joined", "user_left"})
# Events sent both to a room and to personal rooms: a socket in the room takes the room copy.
_ROOM_FIRST = frozenset({"messages_read", "message_deleted", "message_notification"})


def in_thread(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Run a blocking service call in the worker pool, closing stale DB connections around it.

    thread_sensitive=False lets frames of different sockets run in parallel on the pool
    instead of queueing on one thread (the default), which the connection pool can serve.

    Django's close_old_connections, not channels.db's: Channels' test communicator patches
    the latter to a no-op while it feeds the consumer, so in tests every worker thread kept
    its connection checked out of the pool until the pool ran dry (long PostgreSQL runs
    then answered 503). These calls run on worker threads only, never on the test's thread.
    """

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return SyncToAsync(wrapped, thread_sensitive=False)


def _query_token(scope: dict[str, Any]) -> str | None:
    raw = scope.get("query_string", b"")
    try:
        values = parse_qs(raw.decode("latin1")).get("token")
    except ValueError:
        return None
    return values[0] if values else None


def _header_token(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts = value.decode("latin1").split(None, 1)
            if len(parts) == 2 and parts[0].lower() == "bearer":
                return parts[1].strip()
    return None


class ChatConsumer(AsyncWebsocketConsumer):
    user: User | None = None
    _counted = False  # whether this socket is in the open-sockets gauge

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its per-message `aclose_old_connections()`.

        Channels runs that in the process's single thread-sensitive worker before every
        message, so every frame in and every event out of every socket queued on one thread:
        the benchmark saturated at about 300 msg/s with the servers' CPUs half idle. Every
        database call here goes through `in_thread`, which closes stale connections itself,
        on the thread that used them.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Lifecycle -----------------------------------------------------------------------

    async def connect(self) -> None:
        self.user = None
        self.expires_at: datetime | None = None
        self.rooms: set[int] = set()
        self.members_of: set[int] = set()
        # Timers, not sleeping tasks: a task per socket per timer cost ~1.5 KiB of memory per
        # idle socket (make bench); a timer handle a few hundred bytes.
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._beat: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._closing = False
        metrics.OPEN_SOCKETS.inc()
        self._counted = True
        await self.accept()
        token = _query_token(self.scope) or _header_token(self.scope)
        if token is None:
            self._timer("auth", settings.WS_AUTH_TIMEOUT_SECONDS, self._auth_deadline)
            return
        try:
            identity = await in_thread(identity_from_access_token)(token)
            await self._start_session(identity)
        except Unauthenticated:
            await self._close(CLOSE_UNAUTHENTICATED)
        except (OperationalError, InterfaceError) as exc:
            # The database is unreachable or restarting (the token's user lookup, the presence
            # announcement's partner query): a transient failure, so the close code clients retry on.
            logger.warning("database unavailable: closing the new socket", extra={"error": type(exc).__name__})
            await self._close(CLOSE_UNAVAILABLE)

    async def disconnect(self, code: int) -> None:
        if self._counted:
            self._counted = False
            metrics.OPEN_SOCKETS.dec()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._beat is not None:
            self._beat.cancel()
        user = self.user
        if user is None:
            return
        layer = self.channel_layer
        with contextlib.suppress(Exception):
            await layer.group_discard(events.user_group(user.pk), self.channel_name)
            for conversation_id in self.rooms:
                await layer.group_discard(events.conversation_group(conversation_id), self.channel_name)
        try:
            await in_thread(services.socket_closed)(user, self.channel_name, sorted(self.rooms))
        except Exception:
            logger.exception("presence update on disconnect failed", extra={"user_id": user.pk})
        self.user = None

    def _timer(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        """(Re)arm the socket's timer `name`; disconnect cancels them all."""
        previous = self._timers.pop(name, None)
        if previous is not None:
            previous.cancel()
        self._timers[name] = asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    def _close_soon(self, code: int) -> None:
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._close(code))

    async def _close(self, code: int) -> None:
        if not self._closing:
            self._closing = True
            await self.close(code=code)

    async def _start_session(self, identity: SocketIdentity) -> None:
        try:
            await self.channel_layer.group_add(events.user_group(identity.user.pk), self.channel_name)
        except Exception:
            # A session outside its personal room would hear nothing. The layer's first Redis
            # call for a socket is this one (chat.layers makes its channel without Redis), so
            # an unreachable Redis shows here: close, and the client retries with backoff.
            logger.warning("channel layer unavailable: closing the new socket", exc_info=True)
            await self._close(CLOSE_UNAVAILABLE)
            return
        self.user = identity.user
        self._set_expiry(identity.expires_at)
        await in_thread(services.socket_opened)(identity.user, self.channel_name)
        self._timer("heartbeat", presence.HEARTBEAT_SECONDS, self._heartbeat_due)
        await self._send("connected", {"userId": identity.user.pk})

    def _set_expiry(self, expires_at: datetime) -> None:
        self.expires_at = expires_at
        delay = (expires_at - datetime.now(UTC)).total_seconds()
        self._timer("expiry", delay, lambda: self._close_soon(CLOSE_UNAUTHENTICATED))

    def _auth_deadline(self) -> None:
        if self.user is None:
            self._close_soon(CLOSE_UNAUTHENTICATED)

    def _heartbeat_due(self) -> None:
        if self.user is not None and (self._beat is None or self._beat.done()):
            self._beat = asyncio.ensure_future(self._heartbeat())

    async def _heartbeat(self) -> None:
        """Keep presence and room entries alive while the socket is open (they lapse otherwise)."""
        if self.user is None:
            return
        try:
            await in_thread(presence.heartbeat)(self.user.pk, self.channel_name, sorted(self.rooms))
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
            # Checked right before each add (no await between them), so a room left meanwhile
            # is not joined again.
            if self.user is None or (conversation_id is not None and conversation_id not in self.rooms):
                continue
            try:
                await self.channel_layer.group_add(group, self.channel_name)
            except Exception:
                logger.warning("channel layer group refresh failed", exc_info=True)
                return

    # --- Frames in -----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            if bytes_data is not None and len(bytes_data) > settings.WS_MAX_FRAME_BYTES:
                await self._close(CLOSE_TOO_BIG)
                return
            await self._error("invalid", "Binary frames are not supported; send JSON text.")
            return
        if len(text_data) > settings.WS_MAX_FRAME_BYTES or len(text_data.encode()) > settings.WS_MAX_FRAME_BYTES:
            await self._close(CLOSE_TOO_BIG)
            return
        ref = None
        try:
            frame = parse_frame(text_data)
            ref = frame.ref
            if self.user is None and frame.event != "authenticate":
                raise Unauthenticated("Authenticate first: send the authenticate event with a token.")
            handler = getattr(self, f"on_{frame.event}")
            result = await handler(validate_data(frame.event, frame.data))
        except FrameError as exc:
            await self._error(exc.code, exc.message, exc.ref)
            return
        except ChatError as exc:
            await self._error(exc.code, exc.message, ref, exc)
            return
        except (OperationalError, InterfaceError) as exc:
            logger.warning("database unavailable", extra={"error": type(exc).__name__})
            await self._error("unavailable", "The service is briefly unavailable; retry in a moment.", ref)
            return
        except Exception:
            logger.exception("socket frame failed")
            await self._error("internal", "The server could not handle this frame.", ref)
            return
        if ref is not None:
            await self._send("ack", result if result is not None else {}, ref)

    # --- Handlers: one per client event ----------------------------------------------------

    async def on_authenticate(self, token: str) -> dict[str, Any] | None:
        try:
            identity = await in_thread(identity_from_access_token)(token)
        except Unauthenticated:
            if self.user is None:
                await self._close(CLOSE_UNAUTHENTICATED)
                return None
            raise
        if self.user is None:
            await self._start_session(identity)
        elif identity.user.pk != self.user.pk:
            raise Forbidden("That token belongs to another user.")
        else:
            self._set_expiry(identity.expires_at)
        return {"userId": identity.user.pk, "expiresAt": events.iso(identity.expires_at)}

    async def on_join_personal_room(self, _: None) -> dict[str, Any]:
        return {"userId": self._user().pk}

    async def on_join_conversation(self, conversation_id: int) -> dict[str, Any]:
        user = self._user()
        await in_thread(services.join_room)(user, conversation_id, self.channel_name)
        self.members_of.add(conversation_id)
        if conversation_id not in self.rooms:
            self.rooms.add(conversation_id)
            await self.channel_layer.group_add(events.conversation_group(conversation_id), self.channel_name)
            await self._to_room(
                conversation_id,
                "user_joined",
                {
                    "userId": user.pk,
                    "conversationId": conversation_id,
                    "message": f"{user.username} joined the conversation",
                },
            )
        return {"conversationId": conversation_id}

    async def on_leave_conversation(self, conversation_id: int) -> dict[str, Any]:
        user = self._user()
        if conversation_id not in self.rooms:
            await self._check_member(conversation_id)
            return {"conversationId": conversation_id}
        self.rooms.discard(conversation_id)
        await self.channel_layer.group_discard(events.conversation_group(conversation_id), self.channel_name)
        await in_thread(services.leave_room)(user, conversation_id, self.channel_name)
        await self._to_room(
            conversation_id,
            "user_left",
            {"userId": user.pk, "conversationId": conversation_id, "message": f"{user.username} left the conversation"},
        )
        return {"conversationId": conversation_id}

    async def on_send_message(self, request: SendRequest) -> dict[str, Any]:
        result: dict[str, Any] = await in_thread(_send_and_render)(self._user(), request)
        return result

    async def on_typing(self, conversation_id: int) -> dict[str, Any]:
        return await self._typing(conversation_id, "user_typing")

    async def on_stop_typing(self, conversation_id: int) -> dict[str, Any]:
        return await self._typing(conversation_id, "user_stopped_typing")

    async def _typing(self, conversation_id: int, event: str) -> dict[str, Any]:
        user = self._user()
        await self._check_member(conversation_id)
        forwarded = True
        if event == "user_typing":
            forwarded = await in_thread(ratelimit.allow_typing)(user.pk, conversation_id)
        if forwarded:
            await self._to_room(conversation_id, event, {"userId": user.pk, "conversationId": conversation_id})
        return {"conversationId": conversation_id, "forwarded": forwarded}

    async def on_mark_as_read(self, conversation_id: int) -> dict[str, Any]:
        user = self._user()
        result = await in_thread(services.mark_read)(user, conversation_id)
        return {
            "conversationId": result.conversation_id,
            "updated": result.updated,
            "readAt": events.iso(result.read_at),
            "upToMessageId": result.up_to_message_id,
        }

    # --- Helpers -------------------------------------------------------------------------

    def _user(self) -> User:
        if self.user is None:
            raise Unauthenticated()
        return self.user

    async def _check_member(self, conversation_id: int) -> None:
        """Membership once per socket and conversation; later frames use the cached answer."""
        if conversation_id in self.members_of:
            return
        await in_thread(services.conversation_of_participant)(self._user(), conversation_id)
        self.members_of.add(conversation_id)

    async def _to_room(self, conversation_id: int, event: str, data: dict[str, Any]) -> None:
        """Typing, joins and leaves are lossy: a channel layer that is down drops them, logged."""
        try:
            await self.channel_layer.group_send(
                events.conversation_group(conversation_id), events.room_event(conversation_id, event, data)
            )
        except Exception:
            logger.warning("room event not delivered", extra={"event": event}, exc_info=True)

    async def _send(self, event: str, data: Any, ref: str | int | None = None) -> bool:
        if self._closing:
            return False
        await self.send(text_data=encode(event, data, ref))
        return True

    async def _error(self, code: str, message: str, ref: Any = None, exc: ChatError | None = None) -> None:
        metrics.error("ws", code)
        data: dict[str, Any] = {"code": code, "message": message}
        if exc is not None and exc.errors:
            data["errors"] = exc.errors
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            data["retryAfter"] = retry_after
        await self._send("error", data, ref)

    # --- Events from the channel layer --------------------------------------------------------

    async def chat_event(self, message: dict[str, Any]) -> None:
        if self.user is None:
            return
        event, data = message["event"], message["data"]
        if event in _NOT_TO_SELF and data.get("userId") == self.user.pk:
            return
        if message.get("scope") == "user" and event in _ROOM_FIRST and data.get("conversationId") in self.rooms:
            return
        if await self._send(event, data):
            metrics.delivered(event)

    async def chat_close(self, message: dict[str, Any]) -> None:
        await self._close(int(message.get("code", CLOSE_UNAUTHENTICATED)))


def _send_and_render(user: User, request: SendRequest) -> dict[str, Any]:
    """Send and build the ack payload in the same worker-thread call (one DB hop per frame)."""
    result = services.send_message(user, request, transport="ws")
    # The sender is online: this socket of theirs is open (no presence round trip needed).
    return events.new_message_payload(result.message, {user.pk}) | {"duplicate": not result.created}
