"""The benchmark harness (bench/, `make bench`) must not rot: its arithmetic, its table, and one tiny real run.

The pure parts (percentiles, the message ledger, targets, the printed table) are checked on
synthetic data; one marked test runs the sustained-chat phase for real at a few messages
per second (two daphne processes, its own PostgreSQL database, Redis) and checks that the
run checks every message, prints its table and leaves no database behind.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench import actions, auth, chat_load, db, idle, peer, rest, run, servers, socketio, sockets, stats, uploads
from bench.stats import Latency, Step, Target, best_step, check_ledger, fmt, format_table, percentile, ratio

ROOT = Path(__file__).resolve().parent.parent


def test_an_auth_burst_counts_only_successful_answers_a_second() -> None:
    burst = auth.Burst("sign-ups", 200, 40.0, {201: 150, 429: 50})
    assert burst.per_second == pytest.approx(3.75)


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99.9) == 7
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_ledger_counts_every_way_a_message_can_go_wrong() -> None:
    sent = ["a", "b", "c", "d", "e", "f"]
    acked = ["a", "b", "c", "d", "e"]  # f never acked
    stored = {"a": 1, "b": 2, "c": 1, "e": 1, "zz": 1}  # b twice, d missing, zz never sent
    delivered = {"a": 1, "b": 1, "c": 3, "d": 1}  # c three times, e never
    ledger = check_ledger(sent, acked, stored, delivered)
    assert ledger.unacked == ["f"]
    assert ledger.not_stored == ["d"]
    assert ledger.stored_twice == ["b"]
    assert ledger.undelivered == ["e"]
    assert ledger.delivered_twice == ["c"]
    assert ledger.unexpected == ["zz"]
    assert (ledger.lost, ledger.duplicated, ledger.ok) == (3, 2, False)


def test_a_clean_ledger_is_ok() -> None:
    ids = [f"s0-{n}" for n in range(5)]
    ledger = check_ledger(ids, ids, dict.fromkeys(ids, 1), dict.fromkeys(ids, 1))
    assert ledger.ok and ledger.sent == ledger.acked == 5


def test_best_step_is_the_fastest_clean_step_under_the_p99_limit() -> None:
    def step(rate: float, p99: float, ok: bool = True) -> Step:
        return Step(rate, rate, Latency(100, p99 / 2, p99, p99, p99), ok)

    steps = [step(100, 10), step(200, 40), step(400, 80), step(800, 20, ok=False)]
    assert best_step(steps, 50) == steps[1]
    assert best_step(steps, 100) == steps[2]
    assert best_step([step(100, 200)], 100) is None


def test_targets_say_met_or_by_how_much_they_missed() -> None:
    assert Target("rate", 1200, 1000, True).verdict() == "met (20% margin)"
    assert Target("kib", 36, 24, False, " KiB").verdict() == "MISSED by 12 KiB (50%)"
    assert Target("errors", 0, 0, False).verdict() == "met"
    assert Target("errors", 3, 0, False).verdict() == "MISSED by 3"
    assert Target("rate", None, 1000, True).verdict() == "MISSED (not measured)"
    assert Target("rate", 999, 1000, True).wanted() == "≥ 1,000"


def test_numbers_and_tables_format_for_reading() -> None:
    assert fmt(1234.5) == "1,234"
    assert fmt(0.4567) == "0.457"
    assert fmt(None) == "-"
    assert ratio(1, 0) is None and ratio(1, 4) == 0.25
    table = format_table(["a", "bb"], [["1", "22"], ["333", "4"]])
    assert table.splitlines() == ["a    bb", "---  --", "1    22", "333  4"]
    with pytest.raises(ValueError):
        format_table(["a"], [["1", "2"]])


def _synthetic_results() -> run.Results:
    latency = {"count": 100, "p50": 5.0, "p99": 30.0, "p999": 45.0, "max": 50.0}
    rest_entry = {
        "endpoints": {
            name: {"path": "/x", "queries": 3, "latency": latency}
            for name in ("conversation list", "history first page", "history deep page", "cursor newest", "cursor deep")
        },
        "page_size_queries": {"conversation list": [3, 3]},
    }
    return run.Results(
        machine={"cores": 2, "cpu": "test", "load_average_start": "0 0 0", "load_average_end": "0 0 0"},
        steps=[
            {"offered": 200, "acked_per_s": 199.0, "latency": latency, "lost": 0, "duplicated": 0, "ok": True},
            {
                "offered": 400,
                "acked_per_s": 300.0,
                "latency": latency | {"p99": 900.0},
                "lost": 2,
                "duplicated": 0,
                "ok": False,
            },
        ],
        idle={
            "sockets": 100,
            "bytes_per_socket": 30 * 1024,
            "connects_per_second": 800.0,
            "join_seconds": 0.1,
            "connect_error_count": 0,
            "join_error_count": 0,
        },
        bare={"bytes_per_socket": 12 * 1024, "connects_per_second": 3000.0},
        storm={
            "sockets": 100,
            "back": 100,
            "reconnect_seconds": 1.0,
            "recover_seconds": 1.5,
            "error_count": 0,
            "undelivered": 0,
        },
        pgbench_tps=2000.0,
        pgbench_clients=8,
        rest={"1000": rest_entry},
        auth=[asdict(auth.Burst("logins", 200, 40.0, {200: 150, 401: 20, 429: 30})) | {"per_second": 3.75}],
    )


def test_the_report_judges_every_target_from_synthetic_results(capsys: pytest.CaptureFixture[str]) -> None:
    rows, targets = run.build_rows(_synthetic_results())
    names = {t.name for t in targets}
    assert {"msgs/s at p99 < 50 ms", "ratio to pgbench", "KiB per idle socket", "connects/s"} <= names
    assert {"storm recovery", "conversation list p99", "deep cursor vs first page"} <= names
    by_name = {t.name: t for t in targets}
    assert by_name["msgs/s at p99 < 50 ms"].value == 199.0  # the 400 msg/s step lost messages
    assert by_name["ratio to pgbench"].value == pytest.approx(199 / 2000)
    assert by_name["KiB per idle socket"].value == 30
    assert all(len(r) == 6 for r in rows)
    assert rows[-1][:2] == ["auth: logins/s, 200 at once (one process)", "3.75 /s"]
    assert "150 x 200, 20 x 401, 30 x 429" in rows[-1][2]
    text = run.print_report(_synthetic_results())
    assert "targets met:" in text and "MISSED" in text
    assert capsys.readouterr().out.strip() == text


def test_the_plan_reads_its_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_QUICK", "1")
    monkeypatch.setenv("BENCH_ONLY", "chat,rest")
    monkeypatch.setenv("BENCH_RATES", "10,20")
    plan = run.Plan.from_env()
    assert plan.quick and plan.phases == {"chat", "rest"} and plan.chat_rates == [10, 20]
    monkeypatch.setenv("BENCH_ONLY", "chat,nonsense")
    with pytest.raises(SystemExit):
        run.Plan.from_env()


def test_the_bench_database_is_its_own_and_named_so() -> None:
    assert run.pg_server_url("postgres://u:p@db.example:6543/chat?sslmode=require") == "postgres://u:p@db.example:6543"
    assert run.pg_server_url("") == run.DEFAULT_PG
    assert run.pg_server_url("sqlite:///x.db") == run.DEFAULT_PG
    with pytest.raises(ValueError):
        db.drop_database(run.DEFAULT_PG, "chat")  # refuses any database the bench did not name


@pytest.mark.django_db(transaction=True)
def test_a_phase_hands_its_worker_threads_connections_back() -> None:
    # Each phase's event loop ends its worker threads with it; a connection such a thread kept
    # would never go back to the pool (a full run ran dry in its last phase).
    from django.db import connections

    wrappers: list[Any] = []

    def work() -> int:
        wrapper = connections["default"]  # this thread's own
        wrapper.ensure_connection()
        wrappers.append(wrapper)
        return 7

    assert asyncio.run(db.in_thread(work)) == 7
    (wrapper,) = wrappers
    assert wrapper.connection is None  # closed, i.e. handed back to the pool when there is one


def test_every_bench_module_imports() -> None:
    # The load client, the servers and the phases import (their third-party modules are installed).
    for module in (actions, auth, chat_load, db, idle, peer, rest, run, servers, socketio, sockets, stats, uploads):
        assert module.__doc__, module.__name__
    assert servers.rss_bytes(os.getpid()) > 0
    assert db.PGBENCH_SCRIPT.count("INSERT INTO chat_message") == 1


def _postgres_reachable() -> bool:
    parts = urlsplit(run.pg_server_url(os.environ.get("DATABASE_URL", "")))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def _redis_reachable() -> bool:
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def run_bench(tmp_path: Path, knobs: dict[str, str], *, timeout: float) -> tuple[str, dict[str, Any]]:
    """Run `python -m bench` for real with these knobs (results into tmp_path, a small pool);
    skip without PostgreSQL and Redis. Returns its output and its results file."""
    if not (_postgres_reachable() and _redis_reachable()):
        pytest.skip("the bench needs a PostgreSQL server and Redis (CI has both)")
    env = {**os.environ, **knobs, "BENCH_RESULTS": str(tmp_path), "DB_POOL_MIN": "1", "DB_POOL_MAX": "4"}
    done = subprocess.run(
        [sys.executable, "-m", "bench"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (result_file,) = tmp_path.glob("*.json")
    return done.stdout, json.loads(result_file.read_text())


@pytest.mark.e2e
def test_a_tiny_chat_phase_runs_for_real_and_cleans_up(tmp_path: Path) -> None:
    stdout, result = run_bench(
        tmp_path,
        {
            "BENCH_ONLY": "chat",
            "BENCH_PAIRS": "4",
            "BENCH_RATES": "20",
            "BENCH_STEP_SECONDS": "1.5",
        },
        timeout=120,
    )
    assert "targets met:" in stdout
    (step,) = result["steps"]
    assert step["ok"] and step["lost"] == 0 and step["duplicated"] == 0
    assert step["sent"] == step["acked"] >= 20
    receipts = result["receipts"]  # the same step again, off and with every receiver confirming delivery
    assert receipts["ok"] and receipts["rate"] == 20 and receipts["median_with"] > 0 and receipts["ratio"]
    name = result["machine"]["database"]
    import psycopg

    with psycopg.connect(f"{run.pg_server_url(os.environ.get('DATABASE_URL', ''))}/postgres") as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchall()
    assert left == [], f"the bench left its database {name} behind"


def _peer_run(name: str, rate: float, p99: float, cpu: float, lost: int = 0) -> dict[str, Any]:
    latency = {"count": 600, "p50": p99 / 3, "p99": p99, "p999": p99, "max": p99}
    group = "node" if name == "seed-node" else "server_a"
    return asdict(
        peer.PeerResult(
            name, messages=600, seconds=600 / rate, msgs_per_s=rate, latency=latency, lost=lost, ok=lost == 0,
            cpu_ms_per_message={group: cpu, "postgres": 0.5}, server_cpu_ms=cpu,
        )
    )  # fmt: skip


def test_the_peer_rows_take_medians_and_judge_the_ratios() -> None:
    results = run.Results(
        peer={
            "this project": [_peer_run("this project", 1000, 40, 0.5), _peer_run("this project", 800, 60, 0.7)],
            "seed-node": [_peer_run("seed-node", 500, 90, 1.5), _peer_run("seed-node", 500, 110, 1.5, lost=1)],
        }
    )
    rows, targets = run.build_rows(results)
    by_name = {t.name: t for t in targets}
    assert by_name["server CPU ms per message"].value == pytest.approx(0.6)  # median of 0.5 and 0.7
    assert by_name["msgs/s ratio to seed-node"].value == pytest.approx(900 / 500)
    assert by_name["p99 ratio to seed-node"].value == pytest.approx(50 / 100)
    assert by_name["peer ledger"].value == 0  # ours lost nothing; the peer's loss shows in its own row
    node_row = next(r for r in rows if r[0].startswith("peer: seed-node"))
    assert "lost + doubled 1" in node_row[1]
    skipped = run.Results(peer={"this project": [_peer_run("this project", 900, 50, 0.5)]})
    skipped.peer["seed-node"] = [asdict(peer.PeerResult("seed-node", skipped="node not on the PATH"))]
    rows, targets = run.build_rows(skipped)
    assert any(r[1] == "not run: node not on the PATH" for r in rows)
    assert "msgs/s ratio to seed-node" not in {t.name for t in targets}


def test_the_socketio_client_reads_engineio_packets() -> None:
    frames: list[dict[str, Any]] = []

    async def scenario() -> tuple[Any, Any]:
        client = socketio.SocketIOClient.__new__(socketio.SocketIOClient)
        loop = asyncio.get_running_loop()
        client.on_frame, client.acks = lambda frame, now: frames.append(frame), {7: loop.create_future()}
        client.opened, client.connected = loop.create_future(), loop.create_future()
        client._packet('0{"sid":"abc"}', 0.0)  # namespace connected
        client._packet('2["new_message",{"content":"hi"}]', 0.0)
        client._packet('37[{"success":true}]', 0.0)
        return client.connected.result(), client.acks

    connected, acks = asyncio.run(scenario())
    assert connected == {"sid": "abc"}
    assert frames == [{"event": "new_message", "data": {"content": "hi"}}]
    assert acks == {}  # the ack resolved its future and was removed


@pytest.mark.e2e
def test_a_tiny_peer_phase_runs_both_peers_and_cleans_up(tmp_path: Path) -> None:
    if peer.node_missing():
        pytest.skip(f"the Node peer needs node and npm: {peer.node_missing()}")
    stdout, result = run_bench(
        tmp_path,
        {
            "BENCH_ONLY": "peer",
            "BENCH_PEER_PAIRS": "3",
            "BENCH_PEER_MESSAGES": "5",
            "BENCH_PEER_ROUNDS": "1",
        },
        timeout=900,
    )
    for name in ("this project", "seed-node"):
        (got,) = result["peer"][name]
        assert got["ok"] and got["messages"] == 15 and got["lost"] == got["duplicated"] == 0, got
        assert got["server_cpu_ms"] > 0
    assert "peer: msgs/s, this project ÷ seed-node" in stdout
    names = [result["machine"]["database"], result["machine"]["node_database"]]
    import psycopg

    with psycopg.connect(f"{run.pg_server_url(os.environ.get('DATABASE_URL', ''))}/postgres") as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", [names]).fetchall()
    assert left == [], f"the bench left databases behind: {left}"


def test_the_upload_files_are_real_and_of_their_size() -> None:
    import io

    from PIL import Image

    jpeg = uploads.jpeg_of(uploads.MIB)
    assert abs(len(jpeg) - uploads.MIB) < 0.03 * uploads.MIB
    with Image.open(io.BytesIO(jpeg)) as image:
        image.load()  # decodes whole: a real JPEG, not a header
        assert image.format == "JPEG" and image.width * image.height > 500_000
    pdf = uploads.pdf_of(5 * uploads.MIB)
    assert len(pdf) == 5 * uploads.MIB and pdf.startswith(b"%PDF-1.4") and pdf.endswith(b"%%EOF\n")
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split()[0])
    assert pdf[xref:].startswith(b"xref\n0 5\n")
    for line in pdf[xref:].split(b"\n")[3:7]:  # every object where the cross-reference table says it is
        offset = int(line.split()[0])
        assert pdf[offset:].startswith(b"%d 0 obj" % (pdf[:offset].count(b" 0 obj\n") + 1))


def _upload_result(name: str, size: int, grown_kib: int, errors: list[str] | None = None) -> dict[str, Any]:
    latency = {"count": 10, "p50": 20.0, "p99": 60.0, "p999": 60.0, "max": 60.0}
    return {"name": name, "bytes": size, "latency": latency, "concurrency": 20, "burst_seconds": 1.0,
            "rss_growth_kib": grown_kib, "errors": errors or []}  # fmt: skip


def test_the_upload_rows_judge_growth_with_file_size() -> None:
    mib = 1024 * 1024
    held = run.Results(
        uploads={
            "base_rss_kib": 140 * 1024,
            "files": [
                _upload_result("1 MiB PDF", mib, 22 * 1024),
                _upload_result("5 MiB PDF", 5 * mib, 103 * 1024),  # as if the bodies were held whole
                _upload_result("1 MiB JPEG", mib, 30 * 1024, ["429: slow down"]),
            ],
        }
    )
    rows, targets = run.build_rows(held)
    by_name = {t.name: t for t in targets}
    assert by_name["upload RSS growth with file size"].value == pytest.approx(81)
    assert not by_name["upload RSS growth with file size"].met and not by_name["upload RSS growth"].met
    assert by_name["upload errors"].value == 1
    assert any(r[0] == "uploads: 1 MiB JPEG, one at a time" and "p99 60.0 ms" in r[1] for r in rows)
    streamed = run.Results(
        uploads={
            "base_rss_kib": 140 * 1024,
            "files": [_upload_result("1 MiB PDF", mib, 6 * 1024), _upload_result("5 MiB PDF", 5 * mib, 8 * 1024)],
        }
    )
    _rows, targets = run.build_rows(streamed)
    assert all(t.met for t in targets)


@pytest.mark.e2e
def test_a_tiny_uploads_phase_runs_for_real_and_cleans_up(tmp_path: Path) -> None:
    stdout, result = run_bench(
        tmp_path,
        {
            "BENCH_QUICK": "1",
            "BENCH_ONLY": "uploads",
            "BENCH_UPLOAD_REQUESTS": "3",
            "BENCH_UPLOAD_CONCURRENCY": "4",
        },
        timeout=180,
    )
    assert "uploads: RSS growth, 5 MiB PDFs - 1 MiB PDFs" in stdout
    files = {f["name"]: f for f in result["uploads"]["files"]}
    assert set(files) == {"1 MiB PDF", "5 MiB PDF", "1 MiB JPEG"}
    for got in files.values():
        assert got["errors"] == [] and got["latency"]["count"] == 3 and got["concurrency"] == 4, got
        assert got["latency"]["p50"] > 0 and got["rss_growth_kib"] >= 0
    assert files["5 MiB PDF"]["bytes"] == 5 * 1024 * 1024
    logs = Path(stdout.split("logs in ", 1)[1].split()[0])
    assert logs.is_dir() and not (logs / "media").exists(), "the bench left its uploaded files behind"
    name = result["machine"]["database"]
    import psycopg

    with psycopg.connect(f"{run.pg_server_url(os.environ.get('DATABASE_URL', ''))}/postgres") as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchall()
    assert left == [], f"the bench left its database {name} behind"


def _actions_results(
    decorated_p99: float, plain_p99: float, search_p99: float, queries: tuple[int, int]
) -> run.Results:
    def latency(p99: float) -> dict[str, float]:
        return {"count": 50, "p50": p99 / 2, "p99": p99, "p999": p99, "max": p99}

    return run.Results(
        actions={
            "scale": 1000,
            "messages": 1000,
            "rare_total": 1,
            "rare_mine": 1,
            "pages": {"plain": latency(plain_p99), "reactions + replies": latency(decorated_p99)},
            "page_size_queries": list(queries),
            "search": latency(search_p99),
            "search_queries": 4,
            "search_plan": "",
        }
    )


def test_the_actions_rows_judge_the_page_ratio_its_queries_and_search() -> None:
    _, targets = run.build_rows(_actions_results(22, 20, 30, (6, 6)))
    by_name = {t.name: t for t in targets}
    assert by_name["reactions + replies page p99 ÷ plain page p99"].value == pytest.approx(1.1)
    assert by_name["reactions + replies page p99 ÷ plain page p99"].met
    assert by_name["reactions + replies query count change with page size"].met
    assert by_name["global search p99"].met
    _, targets = run.build_rows(_actions_results(30, 20, 80, (6, 7)))
    assert not any(t.met for t in targets)


@pytest.mark.e2e
def test_a_tiny_actions_phase_runs_for_real_and_cleans_up(tmp_path: Path) -> None:
    stdout, result = run_bench(
        tmp_path,
        {
            "BENCH_QUICK": "1",
            "BENCH_ONLY": "actions",
            "BENCH_ACTIONS_SCALE": "3000",
        },
        timeout=180,
    )
    got = result["actions"]
    assert got["rare_mine"] == 3 and got["messages"] >= 3000, got
    small, large = got["page_size_queries"]
    assert small == large > 0
    assert got["pages"]["reactions + replies"]["count"] == got["pages"]["plain"]["count"] == 50
    assert got["search"]["count"] == 50 and "msg_content_upper_trgm" in got["search_plan"]
    assert "actions: global search" in stdout
    import psycopg

    with psycopg.connect(f"{run.pg_server_url(os.environ.get('DATABASE_URL', ''))}/postgres") as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [result["machine"]["database"]]).fetchall()
    assert left == [], "the bench left its database behind"
