"""Sign-ups and logins sent all at once: how many a second one server answers (the password hash bounds it).

`concurrency` requests go out at the same moment, each from its own thread on a connection
opened beforehand, one after another: opened all at once they overflow daphne's listen backlog
(Twisted's default, 50) and the kernel resets some, which would be measured instead. First
sign-ups of new names, then logins of users created here with one Argon2 hash of their password.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

PASSWORD = "bench-Pass-2026!x"


@dataclass(frozen=True)
class Burst:
    kind: str  # "sign-ups" or "logins"
    requests: int
    seconds: float  # from the moment all are sent to the last answer
    statuses: dict[int, int]  # status -> how many

    @property
    def per_second(self) -> float:
        """Successful answers a second (a 429 from a full hash queue is quick and does not count)."""
        ok = sum(n for status, n in self.statuses.items() if 200 <= status < 300)
        return ok / self.seconds if self.seconds else float("nan")


def _post_all(port: int, path: str, bodies: list[dict[str, str]]) -> tuple[float, Counter[int]]:
    connections = []
    for _ in bodies:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        connection.connect()
        connections.append(connection)
    start = threading.Barrier(len(bodies) + 1)

    def post(connection: http.client.HTTPConnection, body: dict[str, str]) -> int:
        start.wait(timeout=60)
        try:
            connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = [pool.submit(post, c, b) for c, b in zip(connections, bodies, strict=True)]
        start.wait(timeout=60)
        started = time.perf_counter()
        statuses = Counter(answer.result(timeout=900) for answer in answers)
        return time.perf_counter() - started, statuses


def make_login_users(prefix: str, count: int) -> list[str]:
    """`count` users whose password is PASSWORD (one hash, with the first of PASSWORD_HASHERS)."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    encoded = make_password(PASSWORD)
    names = [f"{prefix}_login_{n}" for n in range(count)]
    User.objects.bulk_create([User(username=name, password=encoded) for name in names], batch_size=2000)
    return names


def measure(port: int, prefix: str, concurrency: int) -> list[Burst]:
    logins = make_login_users(prefix, concurrency)
    bursts = []
    for kind, path, bodies in (
        ("sign-ups", "/api/auth/register", [{"username": f"{prefix}_new_{n}"} for n in range(concurrency)]),
        ("logins", "/api/auth/token", [{"username": name} for name in logins]),
    ):
        seconds, statuses = _post_all(port, path, [body | {"password": PASSWORD} for body in bodies])
        bursts.append(Burst(kind, concurrency, seconds, dict(statuses)))
    return bursts
