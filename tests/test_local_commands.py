"""The README's local commands work as written: `make run`, then every line of the Management
commands block, in an environment without any of the project's variables (as on a fresh
checkout), and `manage.py <command> --help` with no environment at all.

The one variable given is DATABASE_URL, to a fresh SQLite file of the test's own, so the
checkout's db.sqlite3 is never touched; it is the embedded default in every other respect.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.loopback import free_port

ROOT = Path(__file__).resolve().parent.parent
# What a developer's shell has; none of the project's own variables (JWT_SECRET, DEBUG, REDIS_URL, ...).
SHELL_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "TMPDIR")
COMMAND_TIMEOUT = 120.0
SUPERUSER = ("admin", "admin@example.com", "Adm1n-pass-for-the-readme-test!")


def shell_env(database: Path, **extra: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in SHELL_VARIABLES if name in os.environ}
    return {**env, "DATABASE_URL": f"sqlite:///{database}", **extra}


def readme_management_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Management commands\n") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def run_in_terminal(args: list[str], env: dict[str, str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run `args` on a pseudo-terminal, typing each answer once its prompt appears (createsuperuser
    asks only on a terminal, and getpass reads passwords from it)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    output, seen_up_to, pending = b"", 0, list(answers)
    deadline = time.monotonic() + COMMAND_TIMEOUT
    try:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"{args} did not finish:\n{output.decode(errors='replace')}"
            readable, _, _ = select.select([master], [], [], left)
            if not readable:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every process holding the terminal has exited
                break
            if not chunk:
                break
            output += chunk
            while pending and (at := output.find(pending[0][0].encode(), seen_up_to)) >= 0:
                seen_up_to = at + len(pending[0][0])
                os.write(master, pending.pop(0)[1].encode() + b"\n")
        return process.wait(timeout=COMMAND_TIMEOUT), output.decode(errors="replace")
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()


def make_run_until_up(env: dict[str, str], tmp_path: Path) -> str:
    """`make run` on a fresh checkout's database, until it prints its links; then SIGTERM."""
    out_path = tmp_path / "make-run.out"
    with out_path.open("wb") as out:
        process = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while "demo logins" not in out_path.read_text(errors="replace"):
            assert process.poll() is None, out_path.read_text(errors="replace")
            assert time.monotonic() < deadline, out_path.read_text(errors="replace")
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    return out_path.read_text(errors="replace")


def users(database: Path) -> dict[str, bool]:
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT username, is_superuser FROM accounts_user").fetchall()
    return {name: bool(superuser) for name, superuser in rows}


@pytest.mark.e2e
def test_the_readme_management_commands_work_as_written_from_a_clean_environment(tmp_path: Path) -> None:
    database = tmp_path / "local.sqlite3"
    env = shell_env(database, PORT=str(free_port()))
    started = make_run_until_up(env, tmp_path)
    assert "demo logins  alice, bob, carol (password chat-demo-2026)" in started
    assert set(users(database)) == {"alice", "bob", "carol"}

    commands = readme_management_commands()
    assert len(commands) >= 8, commands
    for line in commands:
        args = shlex.split(line, comments=True)
        if args == ["make", "superuser"]:
            name, email, password = SUPERUSER
            prompts = [("Username", name), ("Email address:", email), ("Password:", password)]
            status, output = run_in_terminal(args, env, [*prompts, ("Password (again):", password)])
            assert status == 0 and "Superuser created successfully." in output, output
            assert users(database)[name] is True
            continue
        if args == ["make", "reset"]:
            (database.parent / "leftover").write_text("")  # reset deletes only the database
        result = run(args, env)
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, f"{line}\n{result.stderr}"
        if "--json" in line:
            start = re.search(r"^\{", result.stdout, re.MULTILINE)  # after the line make echoes
            assert start is not None, result.stdout
            stats, _ = json.JSONDecoder().raw_decode(result.stdout[start.start() :])
            assert stats["users"] == 3 + (SUPERUSER[0] in users(database)), stats
        if "--help" in line:
            assert "usage: manage.py" in result.stdout, result.stdout
        if args == ["make", "reset"]:
            assert users(database) == {"alice": False, "bob": False, "carol": False}  # the superuser is gone
            assert (database.parent / "leftover").exists()
    assert {"make superuser", "make reset"} <= {line.split("#")[0].strip() for line in commands}


@pytest.mark.e2e
def test_make_reset_never_drops_a_database_that_is_not_sqlite(tmp_path: Path) -> None:
    env = {**shell_env(tmp_path / "unused.sqlite3"), "DATABASE_URL": "postgres://nobody@127.0.0.1:1/chat"}
    result = run(["make", "reset"], env)
    assert result.returncode != 0
    assert "make reset deletes only a local SQLite database" in result.stderr, result.stderr
    assert "migrate" not in result.stdout  # it stopped before doing anything


@pytest.mark.parametrize("args", [["chat_stats", "--help"], ["purge_deleted", "-h"], ["help", "seed_demo"], []])
def test_manage_py_help_works_with_no_environment_at_all(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    expected = f"usage: manage.py {args[0] if args[0] != 'help' else args[1]}" if args else "[chat]"
    assert expected in result.stdout, result.stdout


def test_a_command_that_runs_still_needs_the_secret_when_debug_is_off() -> None:
    """Only a help request gets by without JWT_SECRET: the requirement itself stands."""
    result = subprocess.run(
        [sys.executable, "manage.py", "chat_stats"], cwd=ROOT, env={}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: JWT_SECRET is required when DEBUG is off (set JWT_SECRET, or DEBUG=true for local use)"
    ]
