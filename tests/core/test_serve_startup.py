"""How a real `manage.py serve` starts: migrations taken by one process at a time, the address it
binds by default, a port already in use, and what it prints once it is listening."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from tests.e2e.cluster import _postgres_database
from tests.support import ROOT
from tests.support.faultkit import PrivatePostgres, tools_missing
from tests.support.loopback import free_port, http_json
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

START_TIMEOUT = 90.0  # two processes migrating a fresh database one after the other, on a busy machine
SECRET = "serve-startup-secret-" + "x" * 40


def serve_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DB_SYNC": "false",
        "DB_SEED": "false",
        "DEBUG": "false",
        "JWT_SECRET": SECRET,
        "MESSAGE_RATE_LIMIT": "off",
        # Tests and benchmarks sign up and log in by the hundred from one address (accounts/limits.py).
        "SIGNUP_RATE_LIMIT": "off",
        "LOGIN_FAILURES_PER_USERNAME": "off",
        "LOGIN_FAILURES_PER_ADDRESS": "off",
        "CHANNEL_PREFIX": f"startup-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    for name in ("DJANGO_SETTINGS_MODULE", "REDIS_URL"):
        env.pop(name, None)
    return env


@dataclass
class Serve:
    """One `manage.py serve` process with its stdout and stderr in files of their own."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @classmethod
    def launch(cls, workdir: Path, name: str, env: dict[str, str], *args: str) -> Serve:
        stdout_path, stderr_path = workdir / f"{name}.out", workdir / f"{name}.err"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        return cls(process, stdout_path, stderr_path)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return f"exit {self.process.poll()}\n--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-4000:]}"

    def wait_for(self, condition: Callable[[], bool]) -> None:
        """Until `condition()` holds; fails at once, with the output, if the process exits."""

        def alive_and_done() -> bool:
            assert self.process.poll() is None, self.output()
            return condition()

        try:
            wait_until(alive_and_done, START_TIMEOUT, "manage.py serve", interval=0.2)
        except TimeoutError as exc:
            raise AssertionError(self.output()) from exc

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@contextmanager
def fresh_postgres(workdir: Path) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database: on DATABASE_URL's server, else a private cluster."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        with _postgres_database(url) as database_url:
            yield database_url
        return
    if reason := tools_missing():
        pytest.skip(f"needs PostgreSQL: DATABASE_URL is not PostgreSQL and {reason}")
    postgres = PrivatePostgres(workdir)
    try:
        postgres.init()
        postgres.start()
        postgres.create_database()
        yield postgres.url
    finally:
        postgres.stop()


def ready(port: int) -> bool:
    try:
        return http_json(port, "GET", "/readyz", timeout=2)[0] == 200
    except OSError:
        return False


# --- Item: two processes with DB_SYNC on a fresh database ------------------------------------


def test_two_processes_migrating_a_fresh_database_at_once_both_come_up(tmp_path: Path) -> None:
    """`docker compose up` starts both web processes at the same moment with DB_SYNC=true; before the
    migration lock the second crashed (MigrationSchemaMissing, duplicate pg_type entries)."""
    with fresh_postgres(tmp_path) as database_url:
        env = serve_env(database_url, DB_SYNC="true")
        ports = [free_port(), free_port()]
        servers = [
            Serve.launch(tmp_path, f"web{index}", env, "--host", "127.0.0.1", "--port", str(port))
            for index, port in enumerate(ports)
        ]
        try:
            for server, port in zip(servers, ports, strict=True):
                server.wait_for(partial(ready, port))
            # One of them applied the migrations; the other waited for it and found nothing to do.
            outputs = [server.stdout for server in servers]
            assert sum("Applying accounts.0001_initial... OK" in out for out in outputs) == 1, outputs
            assert sum("No migrations to apply." in out for out in outputs) == 1, outputs
        finally:
            for server in servers:
                server.stop()


# --- Item: the default bind address ---------------------------------------------------------


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets LISTENing on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    raw = bytes.fromhex(address)
                    # The kernel prints each 32-bit word in host (little-endian) order.
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                    found.add(str(ipaddress.ip_address(words)))
    return found


def non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if ipaddress.ip_address(address).is_loopback else address


def test_serve_binds_loopback_only_by_default(tmp_path: Path) -> None:
    """`make run` used to listen on 0.0.0.0, reachable by anyone on the network."""
    port = free_port()
    env = serve_env(f"sqlite:///{tmp_path / 'bind.sqlite3'}", DB_SYNC="true")
    server = Serve.launch(tmp_path, "bind", env, "--port", str(port))
    try:
        server.wait_for(lambda: ready(port))
        assert listening_addresses(port) == {"127.0.0.1"}
        if (outside := non_loopback_address()) is not None:
            with socket.socket() as probe:
                probe.settimeout(2)
                assert probe.connect_ex((outside, port)) != 0, f"reachable on {outside}:{port}"
        assert f"Serving on http://127.0.0.1:{port}" in server.stdout
    finally:
        server.stop()


def test_serve_listens_with_a_backlog_a_reconnect_storm_fits_in(tmp_path: Path) -> None:
    """Twisted's default backlog of 50 dropped the SYNs of sockets reconnecting at once (the
    bench's storm: handshakes timing out, clients backing off for seconds)."""
    from core.management.commands.serve import LISTEN_BACKLOG

    port = free_port()
    env = serve_env(f"sqlite:///{tmp_path / 'backlog.sqlite3'}", DB_SYNC="true")
    server = Serve.launch(tmp_path, "backlog", env, "--port", str(port))
    try:
        server.wait_for(lambda: ready(port))
        # For a listening socket `ss` shows its backlog as Send-Q; the kernel caps it at somaxconn.
        listed = subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
        ).stdout.split()
        cap = int(Path("/proc/sys/net/core/somaxconn").read_text())
        assert int(listed[2]) == min(LISTEN_BACKLOG, cap) > 50, listed
    finally:
        server.stop()


# --- Item: a port already in use ------------------------------------------------------------


def test_a_port_in_use_fails_with_one_line_naming_it_and_a_non_zero_status(tmp_path: Path) -> None:
    """It used to print `Serving on ...`, log `CRITICAL Listen failure` and exit 0 (so did `make run`)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = serve_env(f"sqlite:///{tmp_path / 'busy.sqlite3'}", DB_SYNC="true")
        server = Serve.launch(tmp_path, "busy", env, "--host", "127.0.0.1", "--port", str(port))
        try:
            server.process.wait(timeout=START_TIMEOUT)
        finally:
            server.stop()
    assert server.process.returncode != 0, server.output()
    lines = server.stderr.strip().splitlines()
    assert len(lines) == 1, server.output()
    assert f"127.0.0.1:{port}" in lines[0] and "already in use" in lines[0], lines
    assert "Traceback" not in server.stderr
    assert "Serving on" not in server.stdout


# --- Item: what `make run` prints once it is up ---------------------------------------------


def test_a_debug_start_prints_its_links_and_the_demo_logins_once_listening(tmp_path: Path) -> None:
    port = free_port()
    env = serve_env(f"sqlite:///{tmp_path / 'banner.sqlite3'}", DEBUG="true", DB_SYNC="true", DB_SEED="true")
    server = Serve.launch(tmp_path, "banner", env, "--port", str(port))
    try:
        server.wait_for(lambda: "demo logins" in server.stdout)
        lines = server.stdout[server.stdout.index("Serving on") :].splitlines()
        links = {line.split()[0]: line.split()[-1] for line in lines[1:3]}
        assert links == {"web": f"http://127.0.0.1:{port}/", "API": f"http://127.0.0.1:{port}/api/docs/"}, lines
        assert lines[3].split()[1] == f"http://127.0.0.1:{port}/admin/", lines
        # Every printed link answers, and the printed logins log in.
        for url in (links["web"], links["API"], lines[3].split()[1]):
            # The links were compared with loopback http URLs above; the admin redirects to its login.
            with urllib.request.urlopen(url, timeout=10) as page:  # noqa: S310
                assert page.status == 200 and b"<html" in page.read().lower(), url
        names, password = lines[4].removeprefix("  demo logins  ").removesuffix(")").split(" (password ")
        for username in names.split(", "):
            status, body = http_json(port, "POST", "/api/auth/token", {"username": username, "password": password})
            assert status == 200, (username, body)
    finally:
        server.stop()


def test_a_production_start_prints_no_links_and_no_logins(tmp_path: Path) -> None:
    port = free_port()
    env = serve_env(f"sqlite:///{tmp_path / 'quiet.sqlite3'}", DB_SYNC="true", DB_SEED="true")
    server = Serve.launch(tmp_path, "quiet", env, "--host", "127.0.0.1", "--port", str(port))
    try:
        server.wait_for(lambda: ready(port))
        tail = server.stdout[server.stdout.index("Serving on") :]
        assert tail.strip().splitlines() == [f"Serving on http://127.0.0.1:{port} (ws path /ws/chat/)"]
    finally:
        server.stop()
