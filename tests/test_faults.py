"""Fault injection with real processes: kill -9 a daphne, restart Redis, restart PostgreSQL, under load.

Two daphne processes share a private PostgreSQL cluster and a private Redis (never the
machine's shared ones). Clients, half on each process, send over WebSocket and REST with a
clientMessageId each and keep a ledger; after the fault they resync with `after=<last id>`.
Each scenario then checks against the database: every acknowledged message stored exactly
once with the id and seq its ack named, seq gap-free in every conversation, every client's
history complete, no error answer for a send that had committed, and the service back
without restarting the app within RECOVERY_BOUND seconds (the measured time is printed).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.faultkit import (
    PRESENCE_TTL,
    Cluster,
    Peer,
    RestSender,
    SocketSender,
    cluster,
    register,
    resync,
    tools_missing,
    wait_for,
)
from tests.support.figures import figure
from tests.support.loopback import http_json
from tests.support.waiting import wait_until_async

pytestmark = [pytest.mark.faults]

_missing = tools_missing()
if _missing and not os.environ.get("CI"):  # CI must run them; a laptop without the binaries skips, saying why
    pytestmark.append(pytest.mark.skip(reason=f"fault tests need private servers: {_missing}"))

RECOVERY_BOUND = 15.0  # seconds: the promise in docs/guarantees.md
PAIRS = 3  # socket pairs; each pair's users sit on different processes
SEND_INTERVAL = 0.08


@pytest.fixture(scope="module")
def chat_cluster() -> Iterator[Cluster]:
    # Not pytest's tmp_path: its parents are private to root, and PostgreSQL runs as `postgres`.
    with tempfile.TemporaryDirectory(prefix="chat-faults-") as name:
        workdir = Path(name)
        workdir.chmod(0o755)
        with cluster(workdir) as running:
            yield running


@pytest.fixture
def live(chat_cluster: Cluster) -> Cluster:
    """Every process running at the start of each scenario (one scenario kills a daphne)."""
    for server in chat_cluster.servers:
        if server.process is None or server.process.poll() is not None:
            server.start()
    return chat_cluster


def make_peers(c: Cluster, tag: str) -> tuple[list[Peer], list[Peer]]:
    """PAIRS socket pairs and one REST pair, each pair with its conversation already open."""
    port = c.servers[0].port
    socket_peers: list[Peer] = []
    rest_peers: list[Peer] = []
    for index in range(PAIRS + 1):
        a_name, b_name = f"{tag}{index}a", f"{tag}{index}b"
        a_id, a_token = register(port, a_name)
        b_id, b_token = register(port, b_name)
        status, body = http_json(port, "POST", "/api/chat/send", {"receiverId": b_id, "content": "hi"}, a_token)
        assert status == 201, body
        conversation_id = body["data"]["conversation_id"]
        pair = [
            Peer(a_name, a_id, a_token, b_id, conversation_id, home=0),
            Peer(b_name, b_id, b_token, a_id, conversation_id, home=1),
        ]
        (rest_peers if index == PAIRS else socket_peers).extend(pair)
    return socket_peers, rest_peers


async def run_under_load(
    c: Cluster, socket_peers: list[Peer], rest_peers: list[Peer], fault: Callable[[], Awaitable[None]]
) -> tuple[list[SocketSender], list[RestSender]]:
    stop = asyncio.Event()
    senders = [SocketSender(peer, c.servers, SEND_INTERVAL) for peer in socket_peers]
    rest = [RestSender(peer, c.servers, SEND_INTERVAL) for peer in rest_peers]
    tasks = [asyncio.ensure_future(s.run(stop)) for s in senders] + [asyncio.ensure_future(r.run(stop)) for r in rest]
    try:
        await wait_until_async(
            lambda: all(p.ledger.acked for p in [*socket_peers, *rest_peers]), 30, "every peer's first answered send"
        )
        await fault()
        await asyncio.sleep(3.0)  # the load runs on for a while after the fault: what the ledgers then check
        stop.set()
        # Every unacknowledged send is retried until it is answered: bounded, or the test fails.
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=45)
    finally:
        for task in tasks:
            task.cancel()
    return senders, rest


def check_ledgers(c: Cluster, peers: list[Peer]) -> dict[str, Any]:
    """The database against every client's ledger; returns the figures for the report."""
    port = next(s.port for s in c.servers if s.process and s.process.poll() is None)
    for peer in peers:  # the final resync after the fault, as a reconnecting client does
        asyncio.run(resync(port, peer.token, peer.conversation_id, peer.ledger))
    duplicates = c.postgres.query(
        "SELECT sender_id, client_message_id, count(*) FROM chat_message "
        "WHERE client_message_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert duplicates == [], f"stored more than once: {duplicates}"
    stored = {
        (sender, cmid): (pk, seq)
        for pk, seq, sender, cmid in c.postgres.query(
            "SELECT id, seq, sender_id, client_message_id FROM chat_message WHERE client_message_id IS NOT NULL"
        )
    }
    gaps = c.postgres.query(
        "SELECT c.id, c.last_seq, count(m.id), min(m.seq), max(m.seq) FROM chat_conversation c "
        "JOIN chat_message m ON m.conversation_id = c.id GROUP BY c.id, c.last_seq "
        "HAVING count(m.id) <> c.last_seq OR min(m.seq) <> 1 OR max(m.seq) <> c.last_seq"
    )
    assert gaps == [], f"conversations whose seq has gaps: {gaps}"
    last_seq = dict(c.postgres.query("SELECT id, last_seq FROM chat_conversation"))
    acked = 0
    for peer in peers:
        ledger = peer.ledger
        for cmid, ack in ledger.acked.items():
            assert stored.get((peer.user_id, cmid)) == ack, f"{peer.name}: ack {cmid} {ack} is not what is stored"
        acked += len(ledger.acked)
        assert set(ledger.created) == set(ledger.acked), f"{peer.name}: sends never acknowledged"
        seqs = sorted(ledger.seen.values())
        assert seqs == list(range(1, last_seq[peer.conversation_id] + 1)), f"{peer.name}: history has gaps"
        assert ledger.errors_after_commit == [], (
            f"{peer.name}: error answered for committed {ledger.errors_after_commit}"
        )
    return {
        "acked": acked,
        "stored_once": len([key for key in stored if key[0] in {p.user_id for p in peers}]),
        "retries": sum(p.ledger.retries for p in peers),
        "duplicate_answers": sum(p.ledger.duplicates for p in peers),
        "reconnects": sum(p.ledger.reconnects for p in peers),
        "server_errors_before_commit": sum(len(p.ledger.server_errors) for p in peers),
        "gaps": 0,
    }


def wait_ready(c: Cluster, index: int) -> float:
    """Seconds until /readyz of server `index` answers 200 again (the app is not restarted)."""
    return wait_for(
        lambda: http_json(c.servers[index].port, "GET", "/readyz", timeout=3)[0] == 200, RECOVERY_BOUND, "/readyz"
    )


def report(name: str, figures: dict[str, Any]) -> None:
    figure(
        f"\n[{name}] " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    )


UNEXPECTED = ("Internal Server Error", "socket frame failed")  # what a 500 or an `internal` frame logs


def log_marks(c: Cluster) -> dict[str, int]:
    return {server.name: len(server.log_lines()) for server in c.servers}


def assert_no_500_logged(c: Cluster, since: dict[str, int]) -> None:
    for server in c.servers:
        lines = server.log_lines()[since.get(server.name, 0) :]
        bad = [line for line in lines if any(text in line for text in UNEXPECTED)]
        assert bad == [], f"daphne {server.name} failed a request:\n" + "\n".join(bad[:5])


def is_online(c: Cluster, token: str, username: str) -> bool:
    port = next(s.port for s in c.servers if s.process and s.process.poll() is None)
    status, body = http_json(port, "GET", f"/api/auth/users?search={username}", None, token)
    assert status == 200, body
    return bool(next(u for u in body["data"]["users"] if u["username"] == username)["is_online"])


async def lurk(port: int, token: str, stop: asyncio.Event) -> None:
    """A user whose only socket sits on one process and never reconnects."""
    import websockets

    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/chat/?token={token}", ping_interval=None) as ws:
            await ws.recv()
            while not stop.is_set():
                await asyncio.wait_for(ws.recv(), timeout=30)
    except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
        return


def test_kill_9_of_one_daphne_under_load_loses_nothing(live: Cluster) -> None:
    socket_peers, rest_peers = make_peers(live, "k")
    marks = log_marks(live)
    victim = live.servers[0]
    moments: dict[str, float] = {}
    _, lurker_token = register(live.servers[1].port, "k-lurker")
    _, stayer_token = register(live.servers[1].port, "k-stayer")
    watcher_id, watcher = register(live.servers[1].port, "k-watcher")
    for token in (lurker_token, stayer_token):  # presence is shown only to people who share a conversation
        status, body = http_json(
            live.servers[1].port, "POST", "/api/chat/send", {"receiverId": watcher_id, "content": "hi"}, token
        )
        assert status == 201, body

    async def fault() -> None:
        stop = asyncio.Event()
        lurker = asyncio.ensure_future(lurk(victim.port, lurker_token, stop))
        stayer = asyncio.ensure_future(lurk(live.servers[1].port, stayer_token, stop))
        await asyncio.to_thread(wait_for, lambda: is_online(live, watcher, "k-lurker"), 10, "lurker online")
        moments["kill"] = time.monotonic()
        await asyncio.to_thread(victim.kill9)
        # Nobody runs the lurker's disconnect: its entry lapses after the TTL, the heartbeat keeps
        # the stayer (on the surviving process) online well past it.
        moments["offline"] = await asyncio.to_thread(
            wait_for, lambda: not is_online(live, watcher, "k-lurker"), PRESENCE_TTL + 5, "lurker offline"
        )
        # The TTL lapsing is what is tested: the stayer must still be online at 1.5 TTLs.
        await asyncio.sleep(max(0.0, PRESENCE_TTL * 1.5 - (time.monotonic() - moments["kill"])))
        moments["stayer_online"] = float(await asyncio.to_thread(is_online, live, watcher, "k-stayer"))
        stop.set()
        for task in (lurker, stayer):
            task.cancel()

    asyncio.run(run_under_load(live, socket_peers, rest_peers, fault))
    figures = check_ledgers(live, [*socket_peers, *rest_peers])
    assert_no_500_logged(live, marks)
    # The clients of the killed process reconnect to the other one and send again.
    moved = [p for p in [*socket_peers, *rest_peers] if p.home == 0]
    recovery = [p.ledger.first_ack_after(moments["kill"]) for p in moved]
    assert all(r is not None for r in recovery), "a client of the killed process never sent again"
    figures["failover_s_max"] = max(r for r in recovery if r is not None)
    figures["dead_socket_offline_after_s"] = moments["offline"]
    report("kill -9 daphne A", figures)
    assert moments["offline"] <= PRESENCE_TTL + 1.5, "a killed process's user stayed online past the TTL"
    assert moments["stayer_online"], "an open socket on the surviving process went offline"
    assert figures["failover_s_max"] < RECOVERY_BOUND
    assert figures["reconnects"] >= len([p for p in socket_peers if p.home == 0])


def test_redis_restart_under_load_keeps_storing_and_pushing_resumes(live: Cluster) -> None:
    socket_peers, rest_peers = make_peers(live, "r")
    marks = log_marks(live)
    rest_during_outage: list[int] = []
    ready_down: list[tuple[int, Any]] = []
    moments: dict[str, float] = {}

    async def fault() -> None:
        await asyncio.to_thread(live.redis.kill)
        moments["down"] = time.monotonic()
        await asyncio.sleep(2.0)  # an outage of a set length, under load: the fault itself
        # REST sends while Redis is down: stored and answered 201 (the broadcast failure is only logged).
        for index in range(3):
            status, body = await asyncio.to_thread(
                http_json,
                live.servers[1].port,
                "POST",
                "/api/chat/send",
                {"receiverId": rest_peers[0].partner_id, "content": f"while redis is down {index}"},
                rest_peers[0].token,
            )
            assert status == 201, body
            rest_during_outage.append(body["data"]["id"])
        ready_down.append(await asyncio.to_thread(http_json, live.servers[1].port, "GET", "/readyz"))
        await asyncio.to_thread(live.redis.start)
        moments["up"] = time.monotonic()
        moments["ready"] = await asyncio.to_thread(wait_ready, live, 0)

    asyncio.run(run_under_load(live, socket_peers, rest_peers, fault))
    figures = check_ledgers(live, [*socket_peers, *rest_peers])
    assert_no_500_logged(live, marks)
    acks_during = sum(
        1 for p in [*socket_peers, *rest_peers] for t in p.ledger.ack_times if moments["down"] <= t < moments["up"]
    )
    push_back = [p.ledger.first_push_after(moments["up"]) for p in socket_peers]
    assert all(r is not None for r in push_back), "live push never resumed on some socket after Redis came back"
    figures |= {
        "redis_down_s": moments["up"] - moments["down"],
        "acks_while_redis_down": acks_during,
        "rest_201_while_redis_down": len(rest_during_outage),
        "push_back_s_max": max(r for r in push_back if r is not None),
        "readyz_back_s": moments["ready"],
    }
    report("redis restart", figures)
    assert acks_during > 0, "nothing was acknowledged while Redis was down"
    status, body = ready_down[0]
    assert status == 503 and body["checks"]["channel_layer"].startswith("unavailable"), body
    assert body["checks"]["database"] == "ok", body
    assert figures["push_back_s_max"] < RECOVERY_BOUND


def test_postgres_restart_under_load_loses_nothing_and_recovers(live: Cluster) -> None:
    socket_peers, rest_peers = make_peers(live, "p")
    marks = log_marks(live)
    ready_down: list[tuple[int, Any]] = []
    moments: dict[str, float] = {}

    async def fault() -> None:
        await asyncio.to_thread(live.postgres.crash)
        moments["down"] = time.monotonic()
        await asyncio.sleep(2.0)  # an outage of a set length, under load: the fault itself
        asked = time.monotonic()
        ready_down.append(await asyncio.to_thread(http_json, live.servers[0].port, "GET", "/readyz"))
        moments["readyz_answer"] = time.monotonic() - asked
        await asyncio.to_thread(live.postgres.start)
        moments["up"] = time.monotonic()
        moments["ready"] = await asyncio.to_thread(wait_ready, live, 1)

    asyncio.run(run_under_load(live, socket_peers, rest_peers, fault))
    figures = check_ledgers(live, [*socket_peers, *rest_peers])
    assert_no_500_logged(live, marks)
    back = [p.ledger.first_ack_after(moments["up"]) for p in [*socket_peers, *rest_peers]]
    assert all(r is not None for r in back), "a client never sent again after PostgreSQL came back"
    figures |= {
        "pg_down_s": moments["up"] - moments["down"],
        "sends_back_s_max": max(r for r in back if r is not None),
        "readyz_back_s": moments["ready"],
    }
    status, body = ready_down[0]
    assert status == 503 and body["checks"]["database"].startswith("unavailable"), body
    figures["readyz_answer_while_down_s"] = moments["readyz_answer"]
    assert moments["readyz_answer"] < 3.0, "a load balancer's probe must not hang on a down database"
    report("postgres restart", figures)
    assert figures["sends_back_s_max"] < RECOVERY_BOUND
    # Nothing else needed restarting: both daphne processes are the ones started before the fault.
    assert all(s.process is not None and s.process.poll() is None for s in live.servers)
