"""The peer phase: the same closed-loop load on this project and on the original design in Node.

`bench/peers/seed-node/` is the original design (Express, Socket.IO, Sequelize on PostgreSQL,
one process). Both get 50 pairs (`BENCH_PEER_PAIRS`), each sender sending 60 messages
(`BENCH_PEER_MESSAGES`) one after another, the next once the previous is acked: 50 messages
in flight at any moment. Each receiver sits in the conversation's room on the other process
(ours) or on the one process (Node). Reported per peer: messages a second, sender → receiver
latency, server CPU per message (from /proc), and the ledger (every message acked, stored once
and delivered once). The Node peer is installed with `npm ci` (once per lockfile) when `node`
and `npm` are on the PATH; without them its row says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import servers
from bench.stats import Latency, check_ledger

NODE_DIR = Path(__file__).resolve().parent / "peers" / "seed-node"


@dataclass
class LoopRecord:
    sent_at: dict[str, float] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    delivered: Counter[str] = field(default_factory=Counter)
    received_at: dict[str, float] = field(default_factory=dict)

    def receive(self, key: str, now: float) -> None:
        if key in self.sent_at:
            self.delivered[key] += 1
            self.received_at.setdefault(key, now)

    def settled(self) -> bool:
        return all(k in self.received_at for k in self.acked_at)


@dataclass
class PeerResult:
    name: str
    messages: int = 0
    seconds: float = 0.0
    msgs_per_s: float = 0.0
    latency: dict[str, Any] = field(default_factory=dict)
    ack_latency: dict[str, Any] = field(default_factory=dict)
    lost: int = 0
    duplicated: int = 0
    ok: bool = False
    errors: list[str] = field(default_factory=list)
    cpu_ms_per_message: dict[str, float] = field(default_factory=dict)
    server_cpu_ms: float = 0.0  # every server process of this peer together
    skipped: str = ""


Send = Callable[[int, str], Awaitable[str | None]]  # (pair index, key) → None when acked, else the error


async def closed_loop(record: LoopRecord, pairs: int, per_pair: int, tag: str, send: Send, drain: float = 5.0) -> float:
    """Each pair sends `per_pair` messages, each once the previous is acked; returns the seconds
    from the first send to the last ack (then waits up to `drain` s for deliveries)."""

    async def sender(index: int) -> None:
        for k in range(per_pair):
            key = f"{tag}-{index}-{k}"
            record.sent_at[key] = time.perf_counter()
            try:
                error = await send(index, key)
            except Exception as exc:
                error = type(exc).__name__
            if error is None:
                record.acked_at[key] = time.perf_counter()
            else:
                record.errors[key] = error

    started = time.perf_counter()
    await asyncio.gather(*(sender(i) for i in range(pairs)))
    seconds = (max(record.acked_at.values(), default=started) - started) or 1e-9
    deadline = time.perf_counter() + drain
    while not record.settled() and time.perf_counter() < deadline:  # noqa: ASYNC110 - polls a record
        await asyncio.sleep(0.02)
    return seconds


def _result(
    name: str,
    record: LoopRecord,
    seconds: float,
    stored: Counter[str],
    spent: dict[str, float],
    server_groups: list[str],
) -> PeerResult:
    ledger = check_ledger(record.sent_at, record.acked_at, stored, record.delivered)
    acked = max(1, len(record.acked_at))
    per_msg = {k: v * 1000 / acked for k, v in spent.items()}
    latencies = [(record.received_at[k] - t) * 1000 for k, t in record.sent_at.items() if k in record.received_at]
    return PeerResult(
        name=name,
        messages=len(record.acked_at),
        seconds=seconds,
        msgs_per_s=len(record.acked_at) / seconds,
        latency=asdict(Latency.of(latencies)),
        ack_latency=asdict(
            Latency.of([(record.acked_at[k] - t) * 1000 for k, t in record.sent_at.items() if k in record.acked_at])
        ),
        lost=ledger.lost,
        duplicated=ledger.duplicated,
        ok=ledger.ok,
        errors=sorted(set(record.errors.values()))[:5],
        cpu_ms_per_message=per_msg,
        server_cpu_ms=sum(per_msg[g] for g in server_groups),
    )


# --- This project -------------------------------------------------------------------------------


async def run_ours(chat: list[servers.Server], pairs: int, per_pair: int, tag: str) -> PeerResult:
    from bench import db
    from bench.sockets import Client, open_client

    made = await db.in_thread(db.make_pairs, tag, pairs)
    record = LoopRecord()

    def on_receiver(frame: dict[str, Any], now: float) -> None:
        if frame.get("event") == "new_message":
            record.receive(str(frame["data"].get("clientMessageId")), now)

    senders: list[Client] = []
    receivers: list[Client] = []
    try:
        for index, pair in enumerate(made):
            senders.append(await open_client(chat[index % 2].ws_url, pair.sender_token))
            receiver = await open_client(chat[(index + 1) % 2].ws_url, pair.receiver_token, on_receiver)
            receivers.append(receiver)
            await receiver.request("join_conversation", {"conversationId": pair.conversation_id})

        async def send(index: int, key: str) -> str | None:
            pair = made[index]
            data = {
                "receiverId": pair.receiver_id,
                "conversationId": pair.conversation_id,
                "content": f"bench message {key}",
                "clientMessageId": key,
            }
            try:
                await senders[index].request("send_message", data)
            except RuntimeError as exc:
                return str(exc)[:80]
            return None

        named = {chat[0].pid: "server_a", chat[1].pid: "server_b", os.getpid(): "client"}
        before = servers.cpu_snapshot()
        seconds = await closed_loop(record, pairs, per_pair, tag, send)
        spent = servers.cpu_breakdown(before, servers.cpu_snapshot(), named)
    finally:
        await asyncio.gather(*(c.close() for c in senders + receivers))
    stored = await db.in_thread(db.stored_counts, tag)
    return _result("this project", record, seconds, stored, spent, ["server_a", "server_b"])


# --- The Node peer ------------------------------------------------------------------------------


def node_missing() -> str:
    """Why the Node peer cannot run here, or "" when it can."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not on the PATH" if missing else ""


def install_node_peer() -> None:
    """`npm ci` from the lockfile, skipped when node_modules was installed from this very lockfile."""
    lock = (NODE_DIR / "package-lock.json").read_bytes()
    stamp = NODE_DIR / "node_modules" / ".bench-lockfile-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    done = subprocess.run(
        ["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm ci failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    stamp.write_text(digest + "\n")


def start_node(db_url: str, secret: str, log_dir: Path) -> servers.Server:
    port = servers.free_port()
    env = dict(os.environ)
    env.update(
        {
            "PORT": str(port),
            "DATABASE_URL": db_url,
            "JWT_SECRET": secret,
            "BCRYPT_ROUNDS": "4",  # sign-ups are set-up here, not what is measured
            "NODE_ENV": "production",
        }
    )
    return servers.spawn("seed_node", ["node", str(NODE_DIR / "server.js")], env, port, log_dir)


async def run_node(
    node: servers.Server, pg_server: str, db_name: str, pairs: int, per_pair: int, tag: str
) -> PeerResult:
    import httpx

    from bench.socketio import SocketIOClient, open_socketio

    base = node.http_url
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        gate = asyncio.Semaphore(8)

        async def register(n: int) -> tuple[int, str]:
            async with gate:
                body = {"username": f"{tag}_{n}", "email": f"{tag}_{n}@bench.test", "password": "bench-password"}
                reply = await http.post("/api/auth/register", json=body)
                reply.raise_for_status()
                data = reply.json()["data"]
                return int(data["user"]["id"]), str(data["token"])

        users = await asyncio.gather(*(register(n) for n in range(2 * pairs)))

        async def first_message(j: int) -> int:  # the design creates a conversation on its first message
            (_, token), (receiver_id, _) = users[2 * j], users[2 * j + 1]
            async with gate:
                reply = await http.post(
                    "/api/chat/send",
                    json={"receiverId": receiver_id, "content": "hello"},
                    headers={"Authorization": f"Bearer {token}"},
                )
            reply.raise_for_status()
            return int(reply.json()["data"]["conversation_id"])

        conversations = await asyncio.gather(*(first_message(j) for j in range(pairs)))

    record = LoopRecord()
    prefix = "bench message "

    def on_receiver(frame: dict[str, Any], now: float) -> None:
        if frame.get("event") == "new_message":
            content = str(frame["data"].get("content", ""))
            record.receive(content.removeprefix(prefix), now)

    ws_base = base.replace("http://", "ws://")
    senders: list[SocketIOClient] = []
    receivers: list[SocketIOClient] = []
    try:
        for j in range(pairs):
            senders.append(await open_socketio(ws_base, users[2 * j][1]))
            receiver = await open_socketio(ws_base, users[2 * j + 1][1], on_receiver)
            receivers.append(receiver)
            joined = await receiver.request("join_conversation", {"conversationId": conversations[j]})
            if not (isinstance(joined, dict) and joined.get("success")):
                raise RuntimeError(f"join_conversation failed on the Node peer: {joined}")

        async def send(index: int, key: str) -> str | None:
            receiver_id, conversation_id = users[2 * index + 1][0], conversations[index]
            data = {"receiverId": receiver_id, "conversationId": conversation_id, "content": prefix + key}
            ack = await senders[index].request("send_message", data)
            if isinstance(ack, dict) and ack.get("success"):
                return None
            return str(ack)[:80]

        named = {node.pid: "node", os.getpid(): "client"}
        before = servers.cpu_snapshot()
        seconds = await closed_loop(record, pairs, per_pair, tag, send)
        spent = servers.cpu_breakdown(before, servers.cpu_snapshot(), named)
    finally:
        await asyncio.gather(*(c.close() for c in senders + receivers))
    stored = await asyncio.to_thread(_node_stored, pg_server, db_name, tag, prefix)
    return _result("seed-node", record, seconds, stored, spent, ["node"])


def _node_stored(pg_server: str, db_name: str, tag: str, prefix: str) -> Counter[str]:
    import psycopg

    with psycopg.connect(f"{pg_server}/{db_name}") as conn:
        rows = conn.execute(
            'SELECT content, count(*) FROM "Messages" WHERE content LIKE %s GROUP BY 1', [f"{prefix}{tag}-%"]
        ).fetchall()
    return Counter({str(content).removeprefix(prefix): int(n) for content, n in rows})
