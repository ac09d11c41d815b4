"""compose.yaml, the Dockerfile and .dockerignore, checked without Docker (it does not run here):
the compose file is parsed and its healthcheck command is run against a real `manage.py serve`
started from exactly the files .dockerignore lets into the image, with the image's command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.loopback import free_port, http_json

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "compose-test-secret-" + "x" * 40
START_TIMEOUT = 60.0


# --- compose.yaml ---------------------------------------------------------------------------


class MissingVariable(Exception):
    pass


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (the forms compose.yaml uses)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        current = environ.get(name, "")
        if op == ":?" and not current:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op == ":-" and not current:
            return arg
        return current

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[?-])([^}]*))?\}", one, value)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def web_services() -> dict[str, dict[str, Any]]:
    """The services built from this repository (the daphne processes)."""
    services = {name: s for name, s in compose()["services"].items() if s.get("build") == "."}
    assert len(services) >= 2, "compose.yaml is meant to show several processes"
    return services


def service_env(service: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    return {name: interpolate(str(value), environ) for name, value in service.get("environment", {}).items()}


def test_compose_up_requires_a_jwt_secret_and_ships_none() -> None:
    for name, service in web_services().items():
        declared = service["environment"]["JWT_SECRET"]
        assert re.fullmatch(r"\$\{JWT_SECRET:\?[^}]+\}", declared), (name, declared)
        with pytest.raises(MissingVariable, match="JWT_SECRET"):
            service_env(service, {})
        assert service_env(service, {"JWT_SECRET": TEST_SECRET})["JWT_SECRET"] == TEST_SECRET
    # No secret-like value anywhere in the file falls back to a default written in it.
    for service in compose()["services"].values():
        for key, value in service.get("environment", {}).items():
            if re.search("SECRET|TOKEN", key):
                assert re.fullmatch(r"\$\{" + re.escape(key) + r":\?[^}]+\}", str(value)), (key, value)


def test_compose_loads_no_demo_users() -> None:
    for name, service in compose()["services"].items():
        assert "DB_SEED" not in service.get("environment", {}), name


def test_every_web_process_migrates_under_the_start_up_lock_once_the_database_is_healthy() -> None:
    """The chosen design: no migrate service; every process has DB_SYNC (serve's advisory lock
    serialises them, tests/core/test_serve_startup.py), and none starts before PostgreSQL answers."""
    for name, service in web_services().items():
        assert service["environment"]["DB_SYNC"] == "true", name
        assert service["depends_on"]["db"] == {"condition": "service_healthy"}, name
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}, name
    assert "ports" not in compose()["services"]["db"]  # its plain password stays inside the stack


def healthcheck_of(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python", test  # exec form: the slim image has no shell tools
    return [sys.executable, *test[2:]]


# --- the image: .dockerignore and the Dockerfile -----------------------------------------------


Rules = list[tuple[bool, re.Pattern[str]]]


def dockerignore_rules(text: str) -> Rules:
    """(excludes, pattern) in file order; Docker's rule: the last pattern that matches wins, and a
    pattern matches a path or any directory above it. `*` and `?` stay inside one path segment."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").lstrip("/"))
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part.startswith("**"):
                regex += "(?:.*/)?" if part.endswith("/") else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        rules.append((excludes, re.compile(regex + "(?:/.*)?")))
    return rules


def in_image(path: str, rules: Rules | None = None) -> bool:
    included = True
    for excludes, pattern in dockerignore_rules((ROOT / ".dockerignore").read_text()) if rules is None else rules:
        if pattern.fullmatch(path):
            included = not excludes
    return included


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name]


def test_the_matcher_follows_dockerignore_rules() -> None:
    """The checks below are only as good as this reading of .dockerignore's syntax."""
    rules = dockerignore_rules("# comment\ntests\n**/__pycache__\n*.log\ndocs\n!docs/keep.yaml\n/data\n")
    assert not in_image("tests/e2e/cluster.py", rules)  # a directory pattern covers what is under it
    assert in_image("chat/tests/x.py", rules) and in_image("tests_helpers.py", rules)  # whole names, from the root
    assert not in_image("chat/__pycache__/models.pyc", rules) and not in_image("__pycache__/a.pyc", rules)
    assert not in_image("server.log", rules) and in_image("logs/server.log", rules)  # * stays in one segment
    assert not in_image("docs/websocket.md", rules)
    assert in_image("docs/keep.yaml", rules)  # a later ! pattern takes a file back
    assert not in_image("data/secret", rules) and in_image("chat/data/x", rules)


def test_the_image_leaves_out_tests_bench_and_local_state_but_keeps_what_the_app_serves() -> None:
    files = tracked_files()
    left_out = [f for f in files if not in_image(f)]
    assert [f for f in files if f.startswith(("tests/", "bench/")) and in_image(f)] == []
    assert {"conftest.py", "pytest.ini", "requirements-dev.txt"} <= set(left_out)
    assert in_image("docs/asyncapi.yaml")  # chat/asyncapi.py serves it at /api/asyncapi.yaml
    for app_file in [f for f in files if f.startswith(("accounts/", "chat/", "chatproject/"))]:
        assert in_image(app_file), app_file
    assert in_image("manage.py") and in_image("requirements.txt")
    # Never baked into an image: the local database and the development JWT secret.
    for local in ("db.sqlite3", "db.sqlite3-wal", "data/dev-jwt-secret", ".venv/bin/python"):
        assert not in_image(local), local


def dockerfile_cmd() -> list[str]:
    (line,) = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    command: list[str] = json.loads(line.removeprefix("CMD "))
    return command


def test_the_image_listens_on_every_interface() -> None:
    """`manage.py serve` binds 127.0.0.1 by default; a container must be reachable from outside it."""
    command = dockerfile_cmd()
    assert command[:3] == ["python", "manage.py", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"


@dataclass
class ImageServer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def image_context(tmp_path: Path) -> Path:
    """A copy of exactly the tracked files .dockerignore lets into the image."""
    app = tmp_path / "app"
    for name in tracked_files():
        if in_image(name):
            (app / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, app / name)
    return app


def start_image_server(app: Path, env: dict[str, str], name: str) -> ImageServer:
    """The Dockerfile's CMD, on loopback (the test binds nothing to the network) and a free port."""
    command = [sys.executable if part == "python" else part for part in dockerfile_cmd()]
    command[command.index("--host") + 1] = "127.0.0.1"
    port = free_port()
    log = app.parent / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=app,
            env={**env, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ImageServer(port, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert process.poll() is None, server.output()
        try:
            if http_json(port, "GET", "/healthz", timeout=2)[0] == 200:
                return server
        except OSError:
            pass
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.2)


@pytest.fixture
def image_servers(image_context: Path, tmp_path: Path) -> Iterator[dict[str, ImageServer]]:
    """Two processes run as compose runs them (its environment, the image's files and command), one
    with its Redis down. DATABASE_URL and REDIS_URL name compose's hosts, so they are replaced."""
    base = {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    base |= service_env(web_services()["web"], {"JWT_SECRET": TEST_SECRET})
    base["CHANNEL_PREFIX"] = f"compose-{uuid.uuid4().hex[:8]}"
    base.pop("REDIS_URL")
    servers: dict[str, ImageServer] = {}
    try:
        servers["ready"] = start_image_server(
            image_context, {**base, "DATABASE_URL": f"sqlite:///{tmp_path / 'ready.sqlite3'}"}, "ready"
        )
        servers["redis_down"] = start_image_server(
            image_context,
            {
                **base,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'down.sqlite3'}",
                "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            },
            "redis_down",
        )
        yield servers
    finally:
        for server in servers.values():
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait(timeout=10)


def run_healthcheck(service: dict[str, Any], port: int) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PORT": str(port)}
    env |= service_env(service, {"JWT_SECRET": TEST_SECRET})
    return subprocess.run(healthcheck_of(service), env=env, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.e2e
def test_compose_healthcheck_passes_only_when_the_image_server_is_ready(image_servers: dict[str, ImageServer]) -> None:
    ready, redis_down = image_servers["ready"], image_servers["redis_down"]
    # The image's files are enough to serve what the app serves from docs/.
    status, _ = http_json(ready.port, "GET", "/api/asyncapi.yaml")
    assert status == 200, ready.output()
    assert http_json(redis_down.port, "GET", "/readyz")[0] == 503

    for name, service in web_services().items():
        assert run_healthcheck(service, ready.port).returncode == 0, (name, run_healthcheck(service, ready.port))
        assert run_healthcheck(service, redis_down.port).returncode != 0, name  # alive, but not ready
        assert run_healthcheck(service, free_port()).returncode != 0, name  # nobody listening
