"""`make bench`: start two chat servers on a fresh database, run bounded loads, print one table.

Order: idle sockets first (on fresh processes, so memory growth is not hidden by memory a
previous phase freed), then the reconnect storm on those sockets, the sustained chat steps,
pgbench for the same transaction, the REST reads, then message actions (history with reactions and
replies, global search) on the REST phase's data. Everything is bound to loopback,
bounded in time, and stopped at the end (also on Ctrl-C or an error).

Knobs (environment): BENCH_QUICK=1 (a ~2-minute smoke run), BENCH_ONLY=idle,chat,peer,pgbench,rest,actions,auth,uploads,
BENCH_RATES=250,500,..., BENCH_STEP_SECONDS, BENCH_PAIRS, BENCH_IDLE_PER_PROCESS, BENCH_AUTH_CONCURRENCY,
BENCH_SERVER=daphne|uvicorn, BENCH_SETTINGS=<settings module for the servers>,
BENCH_ACTIONS_SCALE (messages for the actions phase; the top REST scale by default),
BENCH_PROFILE=<rate>|idle (py-spy server A during that chat step, or while the idle sockets connect),
BENCH_UPLOAD_REQUESTS (uploads one at a time per file), BENCH_UPLOAD_CONCURRENCY (uploads at once, 20).
The PostgreSQL server is DATABASE_URL's (its database name is ignored) or
postgres://postgres@127.0.0.1:5432; Redis is REDIS_URL's or redis://127.0.0.1:6379/0.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import servers
from bench.stats import Latency, Step, Target, best_step, check_ledger, fmt, format_table, ratio

PHASES = ("idle", "chat", "peer", "pgbench", "rest", "actions", "auth", "uploads")
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"


def pg_server_url(database_url: str) -> str:
    """The PostgreSQL server of DATABASE_URL without its database name (the bench makes its own).

    Unset, or not PostgreSQL (the embedded SQLite default), means the machine's local server.
    """
    from urllib.parse import urlsplit

    url = database_url.strip()
    if not url.startswith(("postgres://", "postgresql://")):
        return DEFAULT_PG
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _ints(name: str, default: list[int]) -> list[int]:
    raw = os.environ.get(name, "").strip()
    return [int(x) for x in raw.split(",") if x.strip()] if raw else default


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass
class Plan:
    quick: bool
    phases: set[str]
    chat_pairs: int
    chat_rates: list[int]
    chat_seconds: float
    idle_per_process: int
    pgbench_seconds: int
    rest_scales: list[int]
    rest_requests: int
    auth_concurrency: int
    server: str
    settings_module: str
    profile: str  # a chat rate, or "idle" (the connect phase)
    peer_pairs: int = 50
    peer_messages: int = 60
    peer_rounds: int = 2
    upload_requests: int = 40
    upload_concurrency: int = 20
    actions_scale: int = 0  # messages in the actions phase's conversation; 0: the top REST scale

    @classmethod
    def from_env(cls) -> Plan:
        quick = os.environ.get("BENCH_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
        only = os.environ.get("BENCH_ONLY", "").strip()
        phases = {p.strip() for p in only.split(",") if p.strip()} if only else set(PHASES)
        unknown = phases - set(PHASES)
        if unknown:
            raise SystemExit(f"BENCH_ONLY names unknown phases: {', '.join(sorted(unknown))}")
        profile = os.environ.get("BENCH_PROFILE", "").strip()
        return cls(
            quick=quick,
            phases=phases,
            chat_pairs=int(_number("BENCH_PAIRS", 50 if quick else 100)),
            chat_rates=_ints("BENCH_RATES", [100, 200, 400] if quick else [100, 200, 300, 400, 600, 800, 1000, 1300]),
            chat_seconds=_number("BENCH_STEP_SECONDS", 4 if quick else 10),
            idle_per_process=int(_number("BENCH_IDLE_PER_PROCESS", 300 if quick else 2000)),
            pgbench_seconds=5 if quick else 10,
            rest_scales=[1_000, 100_000] if quick else [1_000, 100_000, 1_000_000],
            rest_requests=50 if quick else 200,
            auth_concurrency=int(_number("BENCH_AUTH_CONCURRENCY", 50 if quick else 200)),
            server=os.environ.get("BENCH_SERVER", "daphne"),
            settings_module=os.environ.get("BENCH_SETTINGS", "chatproject.settings"),
            profile=profile,
            peer_pairs=int(_number("BENCH_PEER_PAIRS", 50)),
            peer_messages=int(_number("BENCH_PEER_MESSAGES", 60)),
            peer_rounds=int(_number("BENCH_PEER_ROUNDS", 1 if quick else 2)),
            upload_requests=int(_number("BENCH_UPLOAD_REQUESTS", 10 if quick else 40)),
            upload_concurrency=int(_number("BENCH_UPLOAD_CONCURRENCY", 20)),
            actions_scale=int(_number("BENCH_ACTIONS_SCALE", 0)),
        )


@dataclass
class Results:
    machine: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    idle: dict[str, Any] = field(default_factory=dict)
    bare: dict[str, Any] = field(default_factory=dict)
    storm: dict[str, Any] = field(default_factory=dict)
    pgbench_tps: float | None = None
    pgbench_clients: int = 8
    rest: dict[str, Any] = field(default_factory=dict)
    actions: dict[str, Any] = field(default_factory=dict)  # message actions: decorated history, global search
    auth: list[dict[str, Any]] = field(default_factory=list)
    peer: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # peer name → one result per round
    receipts: dict[str, Any] = field(default_factory=dict)  # the chat step with and without delivery receipts
    uploads: dict[str, Any] = field(default_factory=dict)  # base RSS and one result per file (bench/uploads.py)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _machine(plan: Plan) -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_average_start": _load_average(),
        "server": plan.server,
        "settings": plan.settings_module,
        "quick": plan.quick,
        "db_pool": f"{os.environ.get('DB_POOL_MIN', '2')}/{os.environ.get('DB_POOL_MAX', '20')}",
        "asgi_threads": os.environ.get("ASGI_THREADS", "default"),
        "chat_pairs": plan.chat_pairs,
    }


def _server_env(db_url: str, redis_url: str, prefix: str, secret: str, settings_module: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": settings_module,
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "CHANNEL_PREFIX": prefix,
            "MESSAGE_RATE_LIMIT": "off",
            # The uploads phase sends hundreds a minute (the default is 30/m per user).
            "ATTACHMENT_UPLOAD_RATE_LIMIT": "off",
            # Tests and benchmarks sign up and log in by the hundred from one address (accounts/limits.py).
            "SIGNUP_RATE_LIMIT": "off",
            "LOGIN_FAILURES_PER_USERNAME": "off",
            "LOGIN_FAILURES_PER_ADDRESS": "off",
            "JWT_SECRET": secret,
            "JWT_ACCESS_MINUTES": "180",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DB_SYNC": "false",
            "DB_SEED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# --- Phases ---------------------------------------------------------------------------------


def _idle_phase(plan: Plan, chat: list[servers.Server], log_dir: Path, results: Results) -> None:
    from bench import db

    pairs = db.make_pairs("idle", plan.idle_per_process)
    asyncio.run(_idle_sockets(plan, pairs, chat, log_dir, results))


async def _idle_sockets(
    plan: Plan, pairs: list[Any], chat: list[servers.Server], log_dir: Path, results: Results
) -> None:
    from bench import idle

    urls = [s.ws_url for s in chat]
    print(f"  idle: {2 * len(pairs)} sockets over two processes …", flush=True)
    profiler = _start_profiler(plan, "idle", chat[0], log_dir, 8)
    held, clients = await idle.hold_idle(pairs, urls, [s.pid for s in chat])
    if profiler is not None:
        profiler.wait(60)
    print(
        f"  idle: {held.connects_per_second:,.0f} connects/s; CPU ms per connect: "
        + ", ".join(f"{k} {v:.2f}" for k, v in held.connect_cpu_ms.items()),
        flush=True,
    )
    results.idle = asdict(held) | {
        "connects_per_second": held.connects_per_second,
        "bytes_per_socket": held.bytes_per_socket,
        "connect_errors": held.connect_errors[:5],
        "join_errors": held.join_errors[:5],
        "connect_error_count": len(held.connect_errors),
        "join_error_count": len(held.join_errors),
    }
    print(f"  storm: dropping all {len(clients)} sockets at once …", flush=True)
    stormed = await idle.storm(clients, pairs, urls)
    results.storm = asdict(stormed) | {"errors": stormed.errors[:5], "error_count": len(stormed.errors)}
    await idle.close_all(clients)

    bare = [servers.start_bare(log_dir), servers.start_bare(log_dir)]
    try:
        print(f"  bare websockets: {2 * len(pairs)} sockets …", flush=True)
        held_bare, bare_clients = await idle.hold_idle(
            [db_pair_without_tokens(p) for p in pairs], [s.ws_url for s in bare], [s.pid for s in bare], join=False
        )
        await idle.close_all(bare_clients)
        results.bare = asdict(held_bare) | {
            "connects_per_second": held_bare.connects_per_second,
            "bytes_per_socket": held_bare.bytes_per_socket,
            "connect_errors": held_bare.connect_errors[:5],
        }
    finally:
        servers.stop_many(list(bare))


def db_pair_without_tokens(pair: Any) -> Any:
    """The bare server takes no token; the same sockets otherwise."""
    from bench.chat_load import Pair

    return Pair(pair.sender_id, "", pair.receiver_id, "", pair.conversation_id)


def _chat_phase(plan: Plan, chat: list[servers.Server], out_dir: Path, results: Results) -> None:
    from bench import db

    pairs = db.make_pairs("chat", plan.chat_pairs)
    asyncio.run(_chat_steps(plan, pairs, chat, out_dir, results))


async def _chat_steps(
    plan: Plan, pairs: list[Any], chat: list[servers.Server], out_dir: Path, results: Results
) -> None:
    from bench import db
    from bench.chat_load import ChatLoad

    load = ChatLoad(pairs, [s.ws_url for s in chat])
    await load.open()
    try:
        for index, rate in enumerate(plan.chat_rates):
            tag = f"s{index}r{rate}"
            profiler = _start_profiler(plan, str(rate), chat[0], out_dir, plan.chat_seconds)
            cpu_before = servers.cpu_snapshot()
            wall_before = time.perf_counter()
            record = await load.step(tag, rate, plan.chat_seconds)
            wall = time.perf_counter() - wall_before
            cpu_after = servers.cpu_snapshot()
            if profiler is not None:
                profiler.wait(plan.chat_seconds + 30)
            stored = await db.in_thread(db.stored_counts, tag)
            ledger = check_ledger(record.sent_at, record.acked_at, stored, record.delivered)
            latency = Latency.of(record.latencies_ms())
            ack = Latency.of(record.ack_latencies_ms())
            step = Step(rate, record.acked_per_second(), latency, ledger.ok)
            named = {chat[0].pid: "server_a", chat[1].pid: "server_b", os.getpid(): "client"}
            spent = servers.cpu_breakdown(cpu_before, cpu_after, named)
            cores = {k: v / wall for k, v in spent.items()}
            per_msg = {k: v * 1000 / max(1, len(record.acked_at)) for k, v in spent.items()}
            results.steps.append(
                {
                    "offered": rate,
                    "acked_per_s": step.acked_per_s,
                    "latency": asdict(latency),
                    "ack_latency": asdict(ack),
                    "sent": ledger.sent,
                    "acked": ledger.acked,
                    "lost": ledger.lost,
                    "duplicated": ledger.duplicated,
                    "errors": sorted(set(record.errors.values()))[:5],
                    "ok": ledger.ok,
                    "cpu_cores": cores,
                    "cpu_ms_per_message": per_msg,
                }
            )
            print(
                f"  chat {rate:>5} msg/s offered: {step.acked_per_s:7.0f} acked/s, p50 {fmt(latency.p50)} ms, "
                f"p99 {fmt(latency.p99)} ms, p99.9 {fmt(latency.p999)} ms (ack p50 {fmt(ack.p50)} ms, "
                f"p99 {fmt(ack.p99)} ms), lost {ledger.lost}, "
                f"doubled {ledger.duplicated}\n        CPU cores busy: "
                + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
                + "; CPU ms per message: "
                + ", ".join(f"{k} {v:.2f}" for k, v in per_msg.items()),
                flush=True,
            )
            saturated = latency.count == 0 or latency.p99 > 1000 or step.acked_per_s < 0.8 * rate
            if saturated and index + 1 < len(plan.chat_rates):
                results.notes.append(f"chat steps stopped after {rate} msg/s: the servers fell behind the offered rate")
                break
            if index + 1 < len(plan.chat_rates):
                await asyncio.sleep(1)
        await _receipts_comparison(plan, load, chat, results)
    finally:
        await load.close()


# Delivery receipts may add at most this much server CPU per message (issue 15's budget).
RECEIPTS_CPU_BUDGET = 1.15


async def _receipts_comparison(plan: Plan, load: Any, chat: list[servers.Server], results: Results) -> None:
    """The same chat step without and with every receiver confirming every message (off, on, off, on:
    the box's drift hits both), compared by the servers' CPU per message acked."""
    from bench import db

    rates = sorted(plan.chat_rates)
    rate = int(_number("BENCH_RECEIPTS_RATE", rates[len(rates) // 2]))
    rounds = 1 if plan.quick else 2
    per_msg: dict[bool, list[float]] = {False: [], True: []}
    ok = True
    for round_ in range(rounds):
        for receipts in (False, True):
            tag = f"rc{round_}{'on' if receipts else 'off'}r{rate}"
            load.receipts = receipts
            cpu_before = servers.cpu_snapshot()
            record = await load.step(tag, rate, plan.chat_seconds)
            cpu_after = servers.cpu_snapshot()
            load.receipts = False
            stored = await db.in_thread(db.stored_counts, tag)
            ok = ok and check_ledger(record.sent_at, record.acked_at, stored, record.delivered).ok
            named = {chat[0].pid: "server_a", chat[1].pid: "server_b"}
            spent = servers.cpu_breakdown(cpu_before, cpu_after, named)
            server_seconds = spent.get("server_a", 0.0) + spent.get("server_b", 0.0)
            per_msg[receipts].append(server_seconds * 1000 / max(1, len(record.acked_at)))
            await asyncio.sleep(1)
    off, on = statistics.median(per_msg[False]), statistics.median(per_msg[True])
    ratio_ = on / off if off else None
    results.receipts = {
        "rate": rate,
        "rounds": rounds,
        "server_cpu_ms_per_message": {"without": per_msg[False], "with": per_msg[True]},
        "median_without": off,
        "median_with": on,
        "ratio": ratio_,
        "ok": ok,
    }
    print(
        f"  chat {rate} msg/s without / with delivery receipts: server CPU {off:.2f} / {on:.2f} ms per message"
        + (f" (x{ratio_:.2f}, budget x{RECEIPTS_CPU_BUDGET})" if ratio_ else ""),
        flush=True,
    )
    if ratio_ is not None and ratio_ > RECEIPTS_CPU_BUDGET:
        results.notes.append(
            f"delivery receipts cost x{ratio_:.2f} server CPU per message (budget x{RECEIPTS_CPU_BUDGET})"
        )


def _start_profiler(
    plan: Plan, what: str, server: servers.Server, out_dir: Path, seconds: float
) -> subprocess.Popen[bytes] | None:
    if plan.profile != what:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    target = out_dir / f"profile-{what}.txt"
    print(f"  profiling server {server.pid} with py-spy → {target}", flush=True)
    return subprocess.Popen(
        [str(spy), "record", "-p", str(server.pid), "-d", str(max(1, int(seconds))), "-r", "200",
         "-f", "raw", "-o", str(target), "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _peer_phase(
    plan: Plan, chat: list[servers.Server], pg_server: str, secret: str, log_dir: Path, results: Results
) -> None:
    """Ours and the Node peer in turn, `peer_rounds` times (A B A B: the box's drift hits both)."""
    from bench import db, peer

    missing = peer.node_missing()
    node: servers.Server | None = None
    node_db = f"{results.machine['database']}_node"
    if missing:
        results.peer["seed-node"] = [asdict(peer.PeerResult("seed-node", skipped=missing))]
    else:
        print("  peer: installing bench/peers/seed-node (npm ci, once per lockfile) …", flush=True)
        peer.install_node_peer()
        db.recreate_database(pg_server, node_db)
        results.machine["node_database"] = node_db
        node = peer.start_node(f"{pg_server}/{node_db}", secret, log_dir)
        results.machine["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    try:
        for round_ in range(plan.peer_rounds):
            got = asyncio.run(peer.run_ours(chat, plan.peer_pairs, plan.peer_messages, f"peer{round_}o"))
            _peer_record(results, got, round_)
            if node is not None:
                tag = f"peer{round_}n"
                got = asyncio.run(peer.run_node(node, pg_server, node_db, plan.peer_pairs, plan.peer_messages, tag))
                _peer_record(results, got, round_)
    finally:
        if node is not None:
            servers.stop(node)


def _peer_record(results: Results, got: Any, round_: int) -> None:
    results.peer.setdefault(got.name, []).append(asdict(got))
    print(
        f"  peer {got.name}, round {round_ + 1}: {got.msgs_per_s:,.0f} msgs/s, p99 {fmt(got.latency['p99'])} ms, "
        f"server CPU {got.server_cpu_ms:.2f} ms/msg; lost {got.lost}, doubled {got.duplicated}; CPU ms per message: "
        + ", ".join(f"{k} {v:.2f}" for k, v in got.cpu_ms_per_message.items()),
        flush=True,
    )


def _pgbench_phase(plan: Plan, pg: dict[str, Any], db_name: str, out_dir: Path, results: Results) -> None:
    from bench import db

    pairs = db.make_pairs("pgbench", 8)
    ids = [p.conversation_id for p in pairs]
    if ids != list(range(ids[0], ids[0] + 8)):
        raise RuntimeError(f"pgbench conversations are not consecutive: {ids}")
    results.pgbench_tps = db.run_pgbench(
        pg["host"],
        pg["port"],
        pg["user"],
        pg["password"],
        db_name,
        ids[0],
        8,
        plan.pgbench_seconds,
        str(out_dir / "send.pgbench"),
    )
    print(f"  pgbench, send transaction, 8 clients: {results.pgbench_tps:,.0f} tps", flush=True)


async def _rest_phase(plan: Plan, chat: list[servers.Server], results: Results) -> None:
    from bench import db, rest

    for scale in plan.rest_scales:
        history = await db.in_thread(rest.load_history, scale, db.make_users)
        print(f"  rest: {scale:,} messages loaded in {history.load_seconds:.1f} s", flush=True)
        entry: dict[str, Any] = {"load_seconds": history.load_seconds, "endpoints": {}, "page_size_queries": {}}
        for name, path in rest.endpoints(history).items():
            queries = await db.in_thread(rest.count_queries, path, history.token)
            latency = await rest.measure_latency(chat[0].http_url, path, history.token, plan.rest_requests)
            entry["endpoints"][name] = {"path": path, "queries": queries, "latency": asdict(latency)}
        for name, (small, large) in rest.page_size_variants(history).items():
            entry["page_size_queries"][name] = [
                await db.in_thread(rest.count_queries, small, history.token),
                await db.in_thread(rest.count_queries, large, history.token),
            ]
        results.rest[str(scale)] = entry


def _actions_phase(plan: Plan, chat: list[servers.Server], results: Results) -> None:
    """The history page with reactions and replies vs a plain one, and global search, at the top REST scale.

    Its database work runs on this (the main) thread's connection; only the HTTP load is async.
    """
    from bench import actions, db, rest

    scale = plan.actions_scale or plan.rest_scales[-1]
    history = actions.history_for(scale, db.make_users)
    seeded = actions.decorate(history)
    actions.check_decorated(seeded)
    print(
        f"  actions: {seeded.total_messages:,} messages; reactions and replies on the newest {actions.DECORATED}; "
        f"'{actions.RARE}' in {seeded.rare_total:,} messages ({seeded.rare_messages:,} of the caller's); "
        f"{seeded.seconds:.1f} s",
        flush=True,
    )
    token, base = history.token, chat[0].http_url
    # Search in the same turns as the two pages: the plain page is what any read of 50 messages
    # costs on this box at that moment.
    paths = actions.history_paths(seeded) | {"search": actions.search_path()}
    pages = asyncio.run(actions.measure_interleaved(base, paths, token, plan.rest_requests))
    search = pages.pop("search")
    queries = [rest.count_queries(path, token) for path in actions.page_size_paths(seeded)]
    search_queries = rest.count_queries(actions.search_path(), token)
    plan_text = actions.explain_search(seeded)
    results.actions = {
        "scale": scale,
        "messages": seeded.total_messages,
        "rare_total": seeded.rare_total,
        "rare_mine": seeded.rare_messages,
        "pages": {name: asdict(lat) for name, lat in pages.items()},
        "page_size_queries": queries,
        "search": asdict(search),
        "search_queries": search_queries,
        "search_plan": plan_text,
    }
    plain, decorated = pages["plain"], pages["reactions + replies"]
    print(
        f"  actions: history page p50/p99 plain {fmt(plain.p50)}/{fmt(plain.p99)} ms, with reactions + replies "
        f"{fmt(decorated.p50)}/{fmt(decorated.p99)} ms; queries at limit 10/100 {queries[0]}/{queries[1]}\n"
        f"  actions: search p50 {fmt(search.p50)} ms, p99 {fmt(search.p99)} ms, {search_queries} queries; plan:\n    "
        + plan_text.replace("\n", "\n    "),
        flush=True,
    )


def _auth_phase(plan: Plan, chat: list[servers.Server], results: Results) -> None:
    from bench import auth

    for burst in auth.measure(chat[0].port, "auth", plan.auth_concurrency):
        print(f"  auth: {burst.requests} {burst.kind} at once in {burst.seconds:.1f} s, {burst.statuses}", flush=True)
        results.auth.append(asdict(burst) | {"per_second": burst.per_second})


# The memory of 20 uploads at once must not grow with their size: 20 x 5 MiB held whole would
# take 80 MiB more than 20 x 1 MiB; a quarter of that is allowed for the allocator's noise.
UPLOAD_GROWTH_DIFFERENCE_MIB = 20
# And 20 x 5 MiB at once may take at most under a third of the 100 MiB of files they are.
UPLOAD_GROWTH_MIB = 30


async def _uploads_phase(plan: Plan, chat: list[servers.Server], results: Results) -> None:
    from bench import db, uploads

    files = [
        uploads.Upload("1 MiB PDF", "one.pdf", "application/pdf", uploads.pdf_of(uploads.MIB)),
        uploads.Upload("5 MiB PDF", "five.pdf", "application/pdf", uploads.pdf_of(5 * uploads.MIB)),
        uploads.Upload("1 MiB JPEG", "photo.jpg", "image/jpeg", uploads.jpeg_of(uploads.MIB)),
    ]

    # One user per upload of a burst: the per-user limit is off for the bench, and this keeps it out anyway.
    users = await db.in_thread(db.make_users, "uploads", plan.upload_concurrency)
    server = chat[0]
    print(
        f"  uploads: {plan.upload_requests} of each one at a time, then {plan.upload_concurrency} at once …", flush=True
    )
    base, measured = await uploads.measure(
        server.http_url, server.pid, [token for _id, token in users], files, plan.upload_requests
    )
    results.uploads = {"base_rss_kib": base, "files": [asdict(m) for m in measured]}
    for m in measured:
        lat = m.latency
        print(
            f"  uploads {m.name}: p50 {fmt(lat['p50'])} ms, p99 {fmt(lat['p99'])} ms; {m.concurrency} at once in "
            f"{m.burst_seconds:.1f} s, RSS +{m.rss_growth_kib / 1024:.1f} MiB; errors {m.errors}",
            flush=True,
        )


def _upload_rows(results: Results, row: Callable[..., None]) -> None:
    if not results.uploads:
        return
    files = {f["name"]: f for f in results.uploads["files"]}
    base = results.uploads["base_rss_kib"] / 1024
    errors = 0
    for f in files.values():
        lat = f["latency"]
        errors += len(f["errors"])
        row(
            f"uploads: {f['name']}, one at a time",
            f"p50 {fmt(lat['p50'])} ms, p99 {fmt(lat['p99'])} ms ({lat['count']} uploads)",
        )
        row(
            f"uploads: {f['concurrency']} x {f['name']} at once, server RSS growth",
            f"+{fmt(f['rss_growth_kib'] / 1024)} MiB; all answered in {fmt(f['burst_seconds'])} s",
            f"base {fmt(base)} MiB; files {fmt(f['concurrency'] * f['bytes'] / 2**20)} MiB",
        )
    small, large = files.get("1 MiB PDF"), files.get("5 MiB PDF")
    if small and large:
        grown = large["rss_growth_kib"] / 1024
        row(
            f"uploads: RSS growth, {large['concurrency']} x 5 MiB PDF",
            f"+{fmt(grown)} MiB",
            f"files {fmt(large['concurrency'] * large['bytes'] / 2**20)} MiB",
            None,
            Target("upload RSS growth", grown, UPLOAD_GROWTH_MIB, False, " MiB"),
        )
        difference = grown - small["rss_growth_kib"] / 1024
        row(
            "uploads: RSS growth, 5 MiB PDFs - 1 MiB PDFs",
            f"{fmt(difference)} MiB",
            f"held whole: +{fmt(large['concurrency'] * (large['bytes'] - small['bytes']) / 2**20)} MiB",
            ratio(large["rss_growth_kib"], small["rss_growth_kib"]),
            Target("upload RSS growth with file size", difference, UPLOAD_GROWTH_DIFFERENCE_MIB, False, " MiB"),
        )
    jpeg = files.get("1 MiB JPEG")
    if jpeg and large:
        difference = (large["rss_growth_kib"] - jpeg["rss_growth_kib"]) / 1024
        row(
            "uploads: RSS growth, 5 MiB PDFs - 1 MiB JPEGs (decoded)",
            f"{fmt(difference)} MiB",
            "",
            ratio(large["rss_growth_kib"], jpeg["rss_growth_kib"]),
        )
    row("uploads: refused or failed", str(errors), "", None, Target("upload errors", errors, 0, False))


# --- The table ----------------------------------------------------------------------------


def build_rows(results: Results) -> tuple[list[list[str]], list[Target]]:
    """Rows of the printed table and the targets they are judged by."""
    rows: list[list[str]] = []
    targets: list[Target] = []

    def row(measure: str, ours: str, limit: str = "", rat: float | None = None, target: Target | None = None) -> None:
        rows.append(
            [
                measure,
                ours,
                limit,
                fmt(rat) if rat is not None else "",
                target.wanted() if target else "",
                target.verdict() if target else "",
            ]
        )
        if target:
            targets.append(target)

    tps = results.pgbench_tps
    if results.steps:
        for s in results.steps:
            lat = s["latency"]
            rows.append(
                [
                    f"chat {s['offered']:,} msg/s offered",
                    f"{fmt(s['acked_per_s'])} acked/s; p50/p99/p99.9 {fmt(lat['p50'])}/{fmt(lat['p99'])}/"
                    f"{fmt(lat['p999'])} ms; lost {s['lost']}, doubled {s['duplicated']}",
                    f"pgbench {fmt(tps)} tps" if tps else "",
                    fmt(ratio(s["acked_per_s"], tps)) if tps else "",
                    "",
                    "",
                ]
            )
        steps = [Step(s["offered"], s["acked_per_s"], Latency(**s["latency"]), s["ok"]) for s in results.steps]
        best100 = best_step(steps, 100)
        best50 = best_step(steps, 50)
        row(
            "chat: best rate, p99 < 100 ms, no loss",
            f"{fmt(best100.acked_per_s)} msg/s (p99 {fmt(best100.latency.p99)} ms)" if best100 else "none",
            f"pgbench {fmt(tps)} tps" if tps else "",
            ratio(best100.acked_per_s, tps) if best100 else None,
        )
        rate50 = best50.acked_per_s if best50 else 0.0
        row(
            "chat: best rate, p99 < 50 ms, no loss",
            f"{fmt(rate50)} msg/s" + (f" (p99 {fmt(best50.latency.p99)} ms)" if best50 else ""),
            f"pgbench {fmt(tps)} tps" if tps else "",
            ratio(rate50, tps),
            Target("msgs/s at p99 < 50 ms", rate50, 1000, True, " msg/s"),
        )
        if tps:
            row(
                "chat: that rate ÷ pgbench 8-client tps",
                fmt(ratio(rate50, tps)),
                f"{fmt(tps)} tps",
                ratio(rate50, tps),
                Target("ratio to pgbench", ratio(rate50, tps), 0.45, True),
            )
        m = results.machine
        threads = m.get("asgi_threads", "default")
        if threads == "default":
            threads = f"{min(32, (m.get('cores') or 1) + 4)} (default)"
        row(
            "chat: concurrency used",
            f"{m.get('chat_pairs', '?')} sender sockets over 2 processes; per process {threads} worker threads, "
            f"DB pool {m.get('db_pool')}",
            f"pgbench: {results.pgbench_clients} clients",
        )
        best_any = best100 or best50
        if best_any is not None:
            cpu = next((s.get("cpu_ms_per_message") for s in results.steps if s["offered"] == best_any.offered), None)
            if cpu:
                row(
                    f"chat: CPU ms per message at {fmt(best_any.offered)} msg/s",
                    ", ".join(f"{k} {v:.2f}" for k, v in cpu.items() if k != "other")
                    + f"; rest of the machine {cpu.get('other', 0):.2f}",
                )
    if results.receipts and results.receipts.get("ratio"):
        rc = results.receipts
        row(
            f"chat: delivery receipts at {fmt(rc['rate'])} msg/s",
            f"server CPU ms per message without {rc['median_without']:.2f}, with {rc['median_with']:.2f} "
            f"(x{rc['ratio']:.2f}); ledger {'ok' if rc['ok'] else 'NOT ok'}",
            f"at most x{RECEIPTS_CPU_BUDGET}",
        )
    _peer_rows(results, row)
    _upload_rows(results, row)
    if results.idle:
        idle, bare = results.idle, results.bare
        kib = idle["bytes_per_socket"] / 1024
        bare_kib = bare["bytes_per_socket"] / 1024 if bare else None
        row(
            f"idle: memory per socket ({idle['sockets']:,} sockets, 2 processes)",
            f"{fmt(kib)} KiB",
            f"bare websockets {fmt(bare_kib)} KiB" if bare_kib else "",
            ratio(kib, bare_kib),
            Target("KiB per idle socket", kib, 24, False, " KiB"),
        )
        if bare_kib:
            row(
                "idle: memory ÷ bare websockets",
                fmt(ratio(kib, bare_kib)),
                "",
                ratio(kib, bare_kib),
                Target("memory ratio to bare websockets", ratio(kib, bare_kib), 2, False),
            )
        bare_cps = bare.get("connects_per_second") if bare else None
        row(
            "idle: connects/s (auth + connected frame)",
            f"{fmt(idle['connects_per_second'])}/s, {idle['connect_error_count']} errors",
            f"bare websockets {fmt(bare_cps)}/s" if bare_cps else "",
            ratio(idle["connects_per_second"], bare_cps),
            Target("connects/s", idle["connects_per_second"], 1000, True, "/s"),
        )
        row(
            "idle: joins/s (join_conversation acked)",
            f"{fmt(idle['sockets'] / idle['join_seconds']) if idle['join_seconds'] else '-'}/s, "
            f"{idle['join_error_count']} errors",
        )
    if results.storm:
        st = results.storm
        row(
            f"storm: {st['sockets']:,} sockets dropped and back",
            f"{st['back']:,} back in rooms after {fmt(st['reconnect_seconds'])} s; probes delivered after "
            f"{fmt(st['recover_seconds'])} s; {st['error_count']} failed attempts; pairs not back "
            f"{st.get('not_back_pairs', 0)}; probes acked but undelivered {st['undelivered']}",
            "",
            None,
            Target("storm recovery", st["recover_seconds"], 10, False, " s"),
        )
        row(
            "storm: failed attempts + undelivered probes",
            str(st["error_count"] + st["undelivered"]),
            "",
            None,
            Target("storm errors", st["error_count"] + st["undelivered"], 0, False),
        )
    if results.rest:
        scales = sorted(results.rest, key=int)
        for scale in scales:
            for name, e in results.rest[scale]["endpoints"].items():
                lat = e["latency"]
                row(
                    f"rest {int(scale):,} msgs: {name}",
                    f"p50 {fmt(lat['p50'])} ms, p99 {fmt(lat['p99'])} ms, {e['queries']} queries",
                )
        top = results.rest[scales[-1]]["endpoints"]
        first, newest = top["history first page"]["latency"], top["cursor newest"]["latency"]
        deep_cursor, deep_page = top["cursor deep"]["latency"], top["history deep page"]["latency"]
        deep_ratio = ratio(deep_cursor["p50"], newest["p50"])
        row(
            f"rest {int(scales[-1]):,}: deep cursor page ÷ first cursor page (p50)",
            fmt(deep_ratio),
            f"first cursor page {fmt(newest['p50'])} ms",
            deep_ratio,
            Target("deep cursor vs first page", deep_ratio, 1.5, False),
        )
        row(
            f"rest {int(scales[-1]):,}: deep cursor page ÷ page=1 (p50)",
            fmt(ratio(deep_cursor["p50"], first["p50"])),
            f"page=1 {fmt(first['p50'])} ms",
            ratio(deep_cursor["p50"], first["p50"]),
        )
        row(
            f"rest {int(scales[-1]):,}: deep offset page ÷ page=1 (p50)",
            fmt(ratio(deep_page["p50"], first["p50"])),
            f"page=1 {fmt(first['p50'])} ms",
            ratio(deep_page["p50"], first["p50"]),
        )
        row(
            f"rest {int(scales[-1]):,}: conversation list p99",
            f"{fmt(top['conversation list']['latency']['p99'])} ms",
            "",
            None,
            Target("conversation list p99", top["conversation list"]["latency"]["p99"], 30, False, " ms"),
        )
        spread = 0
        detail = []
        for scale in scales:
            for name, (small, large) in results.rest[scale]["page_size_queries"].items():
                spread = max(spread, abs(large - small))
                if int(scale) == int(scales[-1]):
                    detail.append(f"{name} {small}/{large}")
        row(
            "rest: queries at limit 5-10 vs 50-100",
            "; ".join(detail),
            "",
            None,
            Target("query count change with page size", spread, 0, False),
        )
    _actions_rows(results, row)
    for burst in results.auth:
        answers = ", ".join(f"{n} x {status}" for status, n in sorted(burst["statuses"].items()))
        row(
            f"auth: {burst['kind']}/s, {burst['requests']} at once (one process)",
            f"{fmt(burst['per_second'])} /s",
            f"all answered in {fmt(burst['seconds'])} s: {answers}",
        )
    return rows, targets


def _actions_rows(results: Results, row: Callable[..., None]) -> None:
    """Issue 14's speed: reactions and replies cost the history page little; global search at scale."""
    a = results.actions
    if not a:
        return
    plain, decorated = a["pages"]["plain"], a["pages"]["reactions + replies"]
    slower = ratio(decorated["p99"], plain["p99"])
    row(
        "actions: history page with reactions + replies on every message",
        f"p50 {fmt(decorated['p50'])} ms, p99 {fmt(decorated['p99'])} ms",
        f"plain page p50 {fmt(plain['p50'])} ms, p99 {fmt(plain['p99'])} ms",
        slower,
        Target("reactions + replies page p99 ÷ plain page p99", slower, 1.2, False),
    )
    small, large = a["page_size_queries"]
    row(
        "actions: that page's queries at limit 10 vs 100",
        f"{small}/{large}",
        "",
        None,
        Target("reactions + replies query count change with page size", abs(large - small), 0, False),
    )
    s = a["search"]
    row(
        f"actions: global search at {a['messages']:,} msgs, a word in {a['rare_total']:,} of them "
        f"({a['rare_mine']:,} the caller's)",
        f"p50 {fmt(s['p50'])} ms, p99 {fmt(s['p99'])} ms, {a['search_queries']} queries",
        f"plain page p99 {fmt(plain['p99'])} ms",
        ratio(s["p99"], plain["p99"]),
        Target("global search p99", s["p99"], 50, False, " ms"),
    )


def _median(runs: list[dict[str, Any]], get: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(get(r) for r in runs)


def _peer_rows(results: Results, row: Callable[..., None]) -> None:
    """One row per peer (medians over the rounds), then ours ÷ the peer's."""
    if not results.peer:
        return
    ours, node = results.peer.get("this project", []), results.peer.get("seed-node", [])
    medians: dict[str, dict[str, float]] = {}
    labels = {
        "this project": "peer: this project (daphne x2, PostgreSQL, Redis)",
        "seed-node": "peer: seed-node (Express + Socket.IO + Sequelize, 1 Node process)",
    }
    for name, runs in (("this project", ours), ("seed-node", node)):
        if not runs:
            continue
        if runs[0].get("skipped"):
            row(labels[name], f"not run: {runs[0]['skipped']}")
            continue
        m = {
            "rate": _median(runs, lambda r: r["msgs_per_s"]),
            "p99": _median(runs, lambda r: r["latency"]["p99"]),
            "cpu": _median(runs, lambda r: r["server_cpu_ms"]),
            "pg": _median(runs, lambda r: r["cpu_ms_per_message"].get("postgres", 0.0)),
        }
        medians[name] = m
        first = runs[0]
        bad = sum(r["lost"] + r["duplicated"] for r in runs)
        row(
            labels[name],
            f"{fmt(m['rate'])} msgs/s; p99 {fmt(m['p99'])} ms; server CPU {m['cpu']:.2f} ms/msg "
            f"(PostgreSQL {m['pg']:.2f}); lost + doubled {bad}",
            f"{first['messages']:,} msgs, {len(runs)} round(s), medians",
            None,
            Target("server CPU ms per message", m["cpu"], 0.6, False, " ms") if name == "this project" else None,
        )
        if name == "this project":
            row("peer: this project, nothing lost or doubled", str(bad), "", None, Target("peer ledger", bad, 0, False))
    if "this project" in medians and "seed-node" in medians:
        a, b = medians["this project"], medians["seed-node"]
        rate = ratio(a["rate"], b["rate"])
        row("peer: msgs/s, this project ÷ seed-node", fmt(rate), f"seed-node {fmt(b['rate'])} msgs/s", rate,
            Target("msgs/s ratio to seed-node", rate, 1.8, True))  # fmt: skip
        p99 = ratio(a["p99"], b["p99"])
        row("peer: p99, this project ÷ seed-node", fmt(p99), f"seed-node {fmt(b['p99'])} ms", p99,
            Target("p99 ratio to seed-node", p99, 1.0, False))  # fmt: skip
        cpu = ratio(a["cpu"], b["cpu"])
        row("peer: server CPU per message, this project ÷ seed-node", fmt(cpu), f"seed-node {b['cpu']:.2f} ms", cpu)


def print_report(results: Results) -> str:
    rows, targets = build_rows(results)
    m = results.machine
    head = (
        f"make bench — {m.get('cores')} cores ({m.get('cpu')}), {m.get('memory_gib')} GiB, Python {m.get('python')}, "
        f"server {m.get('server')} x2, settings {m.get('settings')}, DB pool {m.get('db_pool')}, "
        f"ASGI_THREADS {m.get('asgi_threads')}; load average {m.get('load_average_start')} at start, "
        f"{m.get('load_average_end')} at end{' (BENCH_QUICK)' if m.get('quick') else ''}"
    )
    table = format_table(["measure", "ours", "limit (same run)", "ratio", "target", "verdict"], rows)
    met = sum(t.met for t in targets)
    lines = [head, "", table, "", f"targets met: {met} of {len(targets)}"]
    lines += [f"note: {n}" for n in results.notes]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


# --- Main -----------------------------------------------------------------------------------


def _pg_parts(url: str) -> dict[str, Any]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password,
    }


def _clear_redis(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM (and SIGHUP) stop the run like Ctrl-C does: through the cleanup in main()."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    plan = Plan.from_env()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    # Python leaves SIGINT ignored when it started ignored (a background job of a script):
    # Ctrl-C or `kill -INT` must still stop the run through the cleanup.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    fd_limit = servers.raise_fd_limit()
    pg_server = pg_server_url(os.environ.get("DATABASE_URL", ""))
    redis_url = os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
    run_id = secrets.token_hex(4)
    prefix = f"chat_bench_{run_id}"
    db_name = f"chat_bench_{run_id}"
    secret = secrets.token_urlsafe(48)
    db_url = f"{pg_server}/{db_name}"
    out_dir = Path(tempfile.mkdtemp(prefix="chat_bench_"))
    results = Results(machine=_machine(plan))
    results.machine["fd_limit"] = fd_limit
    results.machine["database"] = db_name
    print(
        f"bench: {', '.join(p for p in PHASES if p in plan.phases)}; database {db_name}; logs in {out_dir}", flush=True
    )

    env = _server_env(db_url, redis_url, prefix, secret, plan.settings_module)
    env["MEDIA_ROOT"] = str(out_dir / "media")  # the uploads phase's files go with the logs, not data/media
    shared = ("DATABASE_URL", "REDIS_URL", "CHANNEL_PREFIX", "JWT_SECRET", "JWT_ACCESS_MINUTES", "DEBUG")
    limits = ("MESSAGE_RATE_LIMIT", "SIGNUP_RATE_LIMIT")
    os.environ.update({k: env[k] for k in (*shared, *limits, "ALLOWED_HOSTS", "LOG_LEVEL")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatproject.settings"
    # The in-process Django (setup, tokens, ledger, query counts) needs no standing pool.
    os.environ["DB_POOL_MIN"] = "0"
    os.environ["DB_POOL_MAX"] = "4"
    from bench import db

    chat: list[servers.Server] = []
    status = 0
    created = False
    try:
        db.recreate_database(pg_server, db_name)
        created = True
        import django

        django.setup()
        db.migrate()
        print(f"  database migrated ({time.monotonic() - started:.0f} s)", flush=True)
        chat = servers.start_chat_servers(["server_a", "server_b"], env, out_dir, server=plan.server)
        if "idle" in plan.phases:
            _idle_phase(plan, chat, out_dir, results)
        if "chat" in plan.phases:
            if "idle" in plan.phases:
                # Fresh processes: the storm's dead objects and half-done handshakes would be
                # measured as chat (docs/benchmarks.md, the chat phase).
                servers.stop_many(list(chat))
                chat = servers.start_chat_servers(["server_a", "server_b"], env, out_dir, server=plan.server)
                print("  chat: servers restarted after the storm", flush=True)
            _chat_phase(plan, chat, out_dir, results)
        if "peer" in plan.phases:
            _peer_phase(plan, chat, pg_server, secret, out_dir, results)
        if "pgbench" in plan.phases:
            _pgbench_phase(plan, _pg_parts(pg_server), db_name, out_dir, results)
        if "rest" in plan.phases:
            asyncio.run(_rest_phase(plan, chat, results))
        if "actions" in plan.phases:
            _actions_phase(plan, chat, results)
        if "auth" in plan.phases:
            _auth_phase(plan, chat, results)
        if "uploads" in plan.phases:
            asyncio.run(_uploads_phase(plan, chat, results))
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers and dropping the bench database", flush=True)
        results.notes.append("the run was interrupted; figures are partial")
        status = 130
    except Exception as exc:
        print(f"\nbench failed: {type(exc).__name__}: {exc} (server logs in {out_dir})", flush=True)
        results.notes.append(f"the run failed ({type(exc).__name__}: {exc}); figures are partial")
        status = 1
        import traceback

        traceback.print_exc()
    finally:
        dbs = [db_name] if created else []
        dbs += [results.machine["node_database"]] if results.machine.get("node_database") else []
        _cleanup(chat, pg_server, dbs, redis_url, prefix)
        # The uploads phase's files (hundreds of MiB); the logs beside them stay.
        shutil.rmtree(out_dir / "media", ignore_errors=True)
    results.machine["load_average_end"] = _load_average()
    results.machine["seconds"] = round(time.monotonic() - started)
    text = print_report(results)
    results.rows = build_rows(results)[0]
    results_dir = Path(os.environ.get("BENCH_RESULTS", Path(__file__).resolve().parent / "results"))
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (results_dir / f"{stamp}.json").write_text(json.dumps(asdict(results), indent=2, default=str))
    (results_dir / f"{stamp}.txt").write_text(text + "\n")
    print(f"\n(whole run {results.machine['seconds']} s; results in {results_dir}/{stamp}.json)")
    return status


def _cleanup(chat: list[servers.Server], pg_server: str, db_names: list[str], redis_url: str, prefix: str) -> None:
    """Stop every process, drop the bench databases, delete the run's Redis keys; Ctrl-C cannot cut it short."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        servers.stop_many(list(chat))
        servers.stop_all()
        if db_names:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: S110 - Django may not be set up yet; the drop forces sessions out
                pass
        for db_name in db_names:
            if os.environ.get("BENCH_KEEP_DB", "").lower() in {"1", "true", "yes"}:
                print(f"  BENCH_KEEP_DB: database {db_name} kept", flush=True)
            else:
                from bench import db

                try:
                    db.drop_database(pg_server, db_name)
                except Exception as exc:
                    print(f"  could not drop database {db_name}: {exc}", flush=True)
        try:
            _clear_redis(redis_url, prefix)
        except Exception as exc:
            print(f"  could not delete Redis keys {prefix}*: {exc}", flush=True)
    finally:
        signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
