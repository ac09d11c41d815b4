"""Processes the benchmark starts and always stops: daphne (`manage.py serve`), the bare server.

Every process runs in its own session so that stopping it takes its children too, is
bound to loopback on a free port, and is stopped by `stop_all()` (also at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

_running: list[subprocess.Popen[bytes]] = []


def raise_fd_limit(wanted: int = 65536) -> int:
    """Lift the soft open-files limit toward the hard one (children inherit it); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}; see its log")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """VmRSS (resident now) or VmHWM (the most it ever was) of one process, in KiB, from /proc.

    The one reader of a server's memory: the bench's phases and the e2e tests (tests/e2e/cluster.py).
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"no {field} for pid {pid}")


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (no psutil needed)."""
    return memory_kib(pid) * 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (utime + stime from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _spawn(name: str, args: list[str], env: dict[str, str], port: int, log_dir: Path, wait: bool = True) -> Server:
    log = log_dir / f"{name}.log"
    with open(log, "ab") as out:  # a restarted server (before the chat phase) appends
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _running.append(proc)
    server = Server(name, port, proc, log, env)
    if wait:
        wait_for_port(port, proc)
    return server


def spawn(name: str, args: list[str], env: dict[str, str], port: int, log_dir: Path) -> Server:
    """Any other server the bench runs (the Node peer): its own session, its log, stopped at exit."""
    return _spawn(name, args, env, port, log_dir)


def start_chat_servers(names: list[str], env: dict[str, str], log_dir: Path, *, server: str = "daphne") -> list[Server]:
    """Start several chat servers at once (their imports overlap) and wait until each listens."""
    started = [start_daphne(name, env, log_dir, server=server, wait=False) for name in names]
    for each in started:
        wait_for_port(each.port, each.proc)
    return started


def start_daphne(name: str, env: dict[str, str], log_dir: Path, *, server: str = "daphne", wait: bool = True) -> Server:
    """`manage.py serve` on a free loopback port (or uvicorn on the same ASGI app, to compare)."""
    port = free_port()
    if server == "uvicorn":
        args = [
            PYTHON, "-m", "uvicorn", "chatproject.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "--ws-max-size", str(64 * 1024), "--log-level", "warning",
        ]  # fmt: skip
    else:
        args = [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return _spawn(name, args, env, port, log_dir, wait)


def start_bare(log_dir: Path) -> Server:
    port = free_port()
    return _spawn("bare_ws", [PYTHON, "-m", "bench.bare_ws", str(port)], dict(os.environ), port, log_dir)


def stop(server: Server | subprocess.Popen[bytes], timeout: float = 8.0) -> None:
    stop_many([server], timeout)


def stop_many(targets: list[Server | subprocess.Popen[bytes]], timeout: float = 8.0) -> None:
    """SIGTERM every process group at once, then SIGKILL what is left after `timeout`.

    At once, so servers shutting down gracefully (closing their sockets, at most a few
    seconds each) do it in parallel.
    """
    procs = [t.proc if isinstance(t, Server) else t for t in targets]
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        if proc in _running:
            _running.remove(proc)


def stop_all() -> None:
    stop_many(list(_running))


atexit.register(stop_all)


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of every process on the machine, by pid, with its command name."""
    ticks = os.sysconf("SC_CLK_TCK")
    snapshot: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                raw = stat.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        snapshot[int(entry)] = (comm, (int(fields[11]) + int(fields[12])) / ticks)
    return snapshot


def cpu_breakdown(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], named: dict[int, str]
) -> dict[str, float]:
    """CPU seconds spent between two snapshots, grouped: the named pids, postgres, redis, everything else.

    Processes that started or ended in between count from zero or are missed; for a load
    step of seconds that is noise. "other" is what the rest of the machine did meanwhile
    (other users of a shared box), which the report shows so a reader can judge the figures.
    """
    groups: dict[str, float] = dict.fromkeys([*named.values(), "postgres", "redis", "other"], 0.0)
    for pid, (comm, seconds) in after.items():
        spent = seconds - before.get(pid, (comm, 0.0))[1]
        if spent <= 0:
            continue
        if pid in named:
            group = named[pid]
        elif comm.startswith("postgres") or comm == "pgbench":
            group = "postgres"
        elif comm.startswith("redis"):
            group = "redis"
        else:
            group = "other"
        groups[group] += spent
    return groups
