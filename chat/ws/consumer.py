"""The WebSocket consumer at /ws/chat/: each frame is parsed, handed to one service call, and
answered with `ack` or `error`; server events arriving from the channel layer become frames.

What lasts between frames (the user, the token's expiry, rooms, timers) is the Session's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError
from rest_framework_simplejwt.tokens import Token

from accounts.auth import SocketIdentity, identity_from_access_token, validated_access_token
from chat import metrics, payloads
from chat.services import conversations, edits, messages, reactions, sockets
from chat.validation import EditRequest, ReactionRequest, SendRequest
from chat.ws.batches import queue_for_loop
from chat.ws.dispatch import dispatch_in_order
from chat.ws.protocol import SERVER_EVENTS, FrameError, encode, parse_frame, validate_data
from chat.ws.receipts import coalescer_for_loop
from chat.ws.session import CLOSE_TOO_MANY_SOCKETS, CLOSE_UNAUTHENTICATED, CLOSE_UNAVAILABLE, Session, in_thread
from core import metrics as core_metrics
from core.errors import DomainError, Forbidden, Unauthenticated

logger = logging.getLogger("chat.socket")

CLOSE_TOO_BIG = 1009

# Events about a user that the user's own sockets should not see (typing never echoes).
_NOT_TO_SELF = frozenset({"user_typing", "user_stopped_typing", "user_joined", "user_left"})
# Events about a person that never pass between two users while either blocks the other.
_NOT_BETWEEN_BLOCKED = frozenset({"user_typing", "user_stopped_typing", "user_joined", "user_left", "presence"})
# Events sent both to a room and to personal rooms: a socket in the room takes the room copy.
_ROOM_FIRST = frozenset(
    {"messages_read", "message_deleted", "message_notification", "message_edited", "reaction_added", "reaction_removed"}
)


def _query_token(scope: dict[str, Any]) -> str | None:
    raw: bytes = scope.get("query_string", b"")
    try:
        values = parse_qs(raw.decode("latin1")).get("token")
    except ValueError:
        return None
    return values[0] if values else None


def _header_token(scope: dict[str, Any]) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            parts = value.decode("latin1").split(None, 1)
            if len(parts) == 2 and parts[0].lower() == "bearer":
                return parts[1].strip()
    return None


class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels ships no types
    session: Session
    _counted = False  # whether this socket is in the open-sockets gauge
    _closing = False
    _closer: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' AsyncConsumer.__call__ with `dispatch_in_order` for its await_many_dispatch:
        the same set-up, a cheaper wait for the next message (chat.ws.dispatch)."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            sources.append(self.channel_receive)
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            await dispatch_in_order(sources, self.dispatch)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its per-message `aclose_old_connections()`, which queued every
        frame of every socket on one thread (docs/benchmarks.md, "dispatch"); `in_thread` closes
        stale connections itself, on the thread that used them."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Lifecycle -----------------------------------------------------------------------

    async def connect(self) -> None:
        self.session = Session(self)
        metrics.OPEN_SOCKETS.inc()
        self._counted = True
        await self.accept()
        token = _query_token(self.scope) or _header_token(self.scope)
        if token is None:
            self.session.await_authentication(settings.WS_AUTH_TIMEOUT_SECONDS)
            return
        try:
            await self._start(validated_access_token(token))
        except Unauthenticated:
            await self._close(CLOSE_UNAUTHENTICATED)
        except (OperationalError, InterfaceError) as exc:
            # The database is unreachable or restarting (the token's user lookup, the presence
            # announcement's partner query): a transient failure, so the close code clients retry on.
            logger.warning("database unavailable: closing the new socket", extra={"error": type(exc).__name__})
            await self._close(CLOSE_UNAVAILABLE)

    async def _start(self, token: Token) -> SocketIdentity | None:
        try:
            identity = await self.session.start(token)
        except sockets.TooManySockets:
            await self._close(CLOSE_TOO_MANY_SOCKETS)
            return None
        if identity is None:
            await self._close(CLOSE_UNAVAILABLE)
            return None
        await self._send("connected", {"userId": identity.user.pk})
        return identity

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Channels' websocket_disconnect without its `aclose_old_connections()`: a hop per close
        to the one thread-sensitive thread, which no code here uses (`in_thread` closes its own
        connections), and which a mass disconnect queued thousands deep (docs/benchmarks.md,
        "disconnect hop"). The session leaves its groups itself (`self.groups` stays empty)."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code: int) -> None:
        if self._counted:
            self._counted = False
            metrics.OPEN_SOCKETS.dec()
        await self.session.stop()

    def close_soon(self, code: int) -> None:
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._close(code))

    async def _close(self, code: int) -> None:
        if not self._closing:
            self._closing = True
            await self.close(code=code)

    # --- Frames in -----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        limit = settings.WS_MAX_FRAME_BYTES
        if text_data is None:
            if bytes_data is not None and len(bytes_data) > limit:
                await self._close(CLOSE_TOO_BIG)
                return
            await self._error("invalid", "Binary frames are not supported; send JSON text.")
            return
        if len(text_data) > limit or len(text_data.encode()) > limit:
            await self._close(CLOSE_TOO_BIG)
            return
        ref = None
        try:
            frame = parse_frame(text_data)
            ref = frame.ref
            if self.session.user is None and frame.event != "authenticate":
                raise Unauthenticated("Authenticate first: send the authenticate event with a token.")
            handler = getattr(self, f"on_{frame.event}")
            result = await handler(validate_data(frame.event, frame.data))
        except FrameError as exc:
            await self._error(exc.code, exc.message, exc.ref)
            return
        except DomainError as exc:
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
            if self.session.user is None:
                started = await self._start(validated_access_token(token))
                if started is None:
                    return None
                return {"userId": started.user.pk, "expiresAt": payloads.iso(started.expires_at)}
            identity = await in_thread(identity_from_access_token)(token)
        except Unauthenticated:
            if self.session.user is None:
                await self._close(CLOSE_UNAUTHENTICATED)
                return None
            raise
        if identity.user.pk != self.session.user.pk:
            raise Forbidden("That token belongs to another user.")
        else:
            self.session.renew(identity)
        return {"userId": identity.user.pk, "expiresAt": payloads.iso(identity.expires_at)}

    async def on_join_personal_room(self, _: None) -> dict[str, Any]:
        return {"userId": self.session.require_user().pk}

    async def on_join_conversation(self, conversation_id: int) -> dict[str, Any]:
        await self.session.join(conversation_id)
        return {"conversationId": conversation_id}

    async def on_leave_conversation(self, conversation_id: int) -> dict[str, Any]:
        await self.session.leave(conversation_id)
        return {"conversationId": conversation_id}

    async def on_send_message(self, request: SendRequest) -> dict[str, Any]:
        sends = queue_for_loop(
            _sends_in_thread, max_batch=settings.SEND_BATCH_MAX, in_flight=settings.SEND_BATCHES_IN_FLIGHT
        )
        answer = await sends.submit(messages.Send(self.session.require_user(), request))
        if isinstance(answer, DomainError):
            raise answer
        return answer

    async def on_typing(self, conversation_id: int) -> dict[str, Any]:
        return await self._typing(conversation_id, stopped=False)

    async def on_stop_typing(self, conversation_id: int) -> dict[str, Any]:
        return await self._typing(conversation_id, stopped=True)

    async def _typing(self, conversation_id: int, *, stopped: bool) -> dict[str, Any]:
        conversation = await self.session.conversation(conversation_id)
        forwarded = await in_thread(sockets.typing)(
            user=self.session.require_user(), conversation=conversation, stopped=stopped
        )
        return {"conversationId": conversation_id, "forwarded": forwarded}

    async def on_mark_delivered(self, target: tuple[int, int]) -> dict[str, Any]:
        """Acked once accepted; stored with the process's other confirmations (chat.ws.receipts)."""
        conversation_id, up_to = target
        conversation = await self.session.conversation(conversation_id)
        mark = conversations.DeliveryMark(self.session.require_user(), conversation, up_to)
        coalescer_for_loop(in_thread(_mark_delivered)).submit(mark)
        return {"conversationId": conversation_id, "upToMessageId": up_to}

    async def on_mark_as_read(self, conversation_id: int) -> dict[str, Any]:
        result = await in_thread(conversations.mark_read)(
            user=self.session.require_user(), conversation_id=conversation_id
        )
        return {
            "conversationId": result.conversation_id,
            "updated": result.updated,
            "readAt": payloads.iso(result.read_at),
            "upToMessageId": result.up_to_message_id,
        }

    async def on_edit_message(self, request: EditRequest) -> dict[str, Any]:
        result = await in_thread(edits.edit_message)(user=self.session.require_user(), request=request)
        return payloads.message_edited(result.message) | {"changed": result.changed}

    async def on_react(self, request: ReactionRequest) -> dict[str, Any]:
        return _reactions_ack(
            await in_thread(reactions.add_reaction)(user=self.session.require_user(), **vars(request))
        )

    async def on_unreact(self, request: ReactionRequest) -> dict[str, Any]:
        return _reactions_ack(
            await in_thread(reactions.remove_reaction)(user=self.session.require_user(), **vars(request))
        )

    # --- Frames out ----------------------------------------------------------------------

    async def _send(self, event: str, data: Any, ref: str | int | None = None) -> bool:
        if self._closing:
            return False
        await self.send(text_data=encode(event, data, ref))
        return True

    async def _error(self, code: str, message: str, ref: Any = None, exc: DomainError | None = None) -> None:
        core_metrics.error("ws", code)
        data: dict[str, Any] = {"code": code, "message": message}
        if exc is not None and exc.errors:
            data["errors"] = exc.errors
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            data["retryAfter"] = retry_after
        await self._send("error", data, ref)

    # --- Events from the channel layer --------------------------------------------------------

    async def chat_event(self, message: dict[str, Any]) -> None:
        user = self.session.user
        if user is None:
            return
        event, data = message["event"], message["data"]
        if event in _NOT_TO_SELF and data.get("userId") == user.pk:
            return
        if event in _NOT_BETWEEN_BLOCKED and data.get("userId") in self.session.blocked:
            return
        if message.get("scope") == "user" and event in _ROOM_FIRST and data.get("conversationId") in self.session.rooms:
            return
        if await self._send(event, data):
            metrics.delivered(event, SERVER_EVENTS)

    async def chat_blocks(self, message: dict[str, Any]) -> None:
        """A block between this socket's user and `userId` began or ended (chat.events.block_changed):
        from now on this socket drops, or passes again, the events between them, and shows the
        other's presence as the block allows."""
        if self.session.user is None:
            return
        other = int(message["userId"])
        if message["blocked"]:
            self.session.blocked = self.session.blocked | {other}
        else:
            self.session.blocked = self.session.blocked - {other}
        if await self._send("presence", message["presence"]):
            metrics.delivered("presence", SERVER_EVENTS)

    async def chat_close(self, message: dict[str, Any]) -> None:
        await self._close(int(message.get("code", CLOSE_UNAUTHENTICATED)))


def _reactions_ack(result: reactions.ReactionResult) -> dict[str, Any]:
    return {
        "messageId": result.message.pk,
        "conversationId": result.message.conversation_id,
        "reactions": payloads.reactions(result.reactions),
        "changed": result.changed,
    }


def _mark_delivered(marks: list[conversations.DeliveryMark]) -> None:
    conversations.mark_delivered(marks=marks)


async def _sends_in_thread(sends: list[messages.Send]) -> list[dict[str, Any] | DomainError]:
    return await in_thread(_send_and_render)(sends)


def _send_and_render(sends: list[messages.Send]) -> list[dict[str, Any] | DomainError]:
    """Send a batch and build each ack in the same worker-thread call (one hop per batch); each
    sender is online, since their socket is open."""
    acks: list[dict[str, Any] | DomainError] = []
    for send, answer in zip(sends, messages.send_messages(sends=sends), strict=True):
        if isinstance(answer, DomainError):
            acks.append(answer)
            continue
        if answer.created:
            metrics.message_sent("ws")
        acks.append(payloads.new_message(answer.message, {send.sender.pk}) | {"duplicate": not answer.created})
    return acks
