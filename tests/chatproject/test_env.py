"""Environment parsing: every contract variable is validated with a one-line reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatproject.env import Env, EnvError, RateLimit, mime_types, origin_of, parse_rate, parse_window
from tests.support import ROOT


def test_booleans_accept_common_spellings() -> None:
    env = Env({"A": "true", "B": "0", "C": "Yes", "D": "off"})
    assert (env.boolean("A", False), env.boolean("B", True), env.boolean("C", False), env.boolean("D", True)) == (
        True,
        False,
        True,
        False,
    )
    assert env.boolean("MISSING", True) is True


def test_bad_boolean_names_the_variable() -> None:
    with pytest.raises(EnvError, match="DB_SYNC"):
        Env({"DB_SYNC": "maybe"}).boolean("DB_SYNC", False)


@pytest.mark.parametrize("value", ["abc", "-1", "0", "70000", "1.5"])
def test_bad_port_is_refused(value: str) -> None:
    with pytest.raises(EnvError, match="PORT"):
        Env({"PORT": value}).integer("PORT", 3010, minimum=1, maximum=65535)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30/10s", RateLimit(30, 10)), ("5/s", RateLimit(5, 1)), ("100/m", RateLimit(100, 60)), ("off", RateLimit(0, 1))],
)
def test_rate_limits_parse(text: str, expected: RateLimit) -> None:
    assert parse_rate("MESSAGE_RATE_LIMIT", text) == expected


@pytest.mark.parametrize(("text", "expected"), [("900", 900), (" 1 ", 1), ("unlimited", None), ("OFF", 0)])
def test_edit_windows_parse(text: str, expected: int | None) -> None:
    assert parse_window("MESSAGE_EDIT_WINDOW_SECONDS", text) == expected


@pytest.mark.parametrize("text", ["0", "-5", "15m", "1.5", "forever", "", "9999999999"])
def test_bad_edit_windows_are_refused_with_the_name(text: str) -> None:
    with pytest.raises(EnvError, match="MESSAGE_EDIT_WINDOW_SECONDS"):
        parse_window("MESSAGE_EDIT_WINDOW_SECONDS", text)


@pytest.mark.parametrize("text", ["30", "30/10", "ten/10s", "30/0s", "0/10s", "30/10d"])
def test_bad_rate_limits_are_refused(text: str) -> None:
    with pytest.raises(EnvError, match="MESSAGE_RATE_LIMIT"):
        parse_rate("MESSAGE_RATE_LIMIT", text)


def test_origin_is_reduced_and_validated() -> None:
    assert origin_of("https://App.example.com/chat?x=1", "FRONTEND_URL") == "https://app.example.com"
    with pytest.raises(EnvError, match="FRONTEND_URL"):
        origin_of("app.example.com", "FRONTEND_URL")


def test_mime_types_are_lower_cased_and_validated() -> None:
    assert mime_types("ATTACHMENT_TYPES", ["Image/PNG", " application/pdf "]) == {"image/png", "application/pdf"}
    for bad in (["png"], ["image/png;x=1"], ["image /png"], []):
        with pytest.raises(EnvError, match="ATTACHMENT_TYPES"):
            mime_types("ATTACHMENT_TYPES", bad)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ATTACHMENT_TYPES": "images"}, "ATTACHMENT_TYPES"),
        ({"ATTACHMENT_MAX_BYTES": "10MB"}, "ATTACHMENT_MAX_BYTES"),
        ({"ATTACHMENT_URL_TTL_SECONDS": "5"}, "ATTACHMENT_URL_TTL_SECONDS"),
        ({"ATTACHMENT_UPLOAD_RATE_LIMIT": "lots"}, "ATTACHMENT_UPLOAD_RATE_LIMIT"),
        ({"S3_ENDPOINT_URL": "http://127.0.0.1:9000"}, "S3_BUCKET"),
        ({"S3_BUCKET": "b", "S3_ACCESS_KEY_ID": "k"}, "S3_SECRET_ACCESS_KEY"),
        ({"S3_BUCKET": "b", "S3_ENDPOINT_URL": "minio:9000"}, "S3_ENDPOINT_URL"),
    ],
)
def test_bad_attachment_settings_stop_manage_py_with_their_name(env: dict[str, str], named: str) -> None:
    result = _manage({"DEBUG": "true", **env}, "check")
    assert result.returncode != 0 and named in result.stderr and "Traceback" not in result.stderr


def test_s3_settings_select_the_s3_storage() -> None:
    code = "from django.conf import settings; print(settings.STORAGES['default']['BACKEND'])"
    env = {"DEBUG": "true", "S3_BUCKET": "chat", "S3_ENDPOINT_URL": "http://127.0.0.1:9000", "S3_REGION": "x"}
    result = _manage(env, "shell", "--no-imports", "-c", code)
    assert result.stdout.strip() == "storages.backends.s3.S3Storage", result.stderr
    default = _manage({"DEBUG": "true"}, "shell", "--no-imports", "-c", code).stdout.strip()
    assert default == "django.core.files.storage.FileSystemStorage"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in {"JWT_SECRET", "DEBUG", "DATABASE_URL", "PORT"}}


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**_clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_without_jwt_secret_refuses_to_start_with_one_line() -> None:
    result = _manage({"DEBUG": "false"}, "check")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: JWT_SECRET is required when DEBUG is off (set JWT_SECRET, or DEBUG=true for local use)"
    ]


def test_bad_variable_stops_manage_py_with_its_name() -> None:
    result = _manage({"DEBUG": "true", "PORT": "http"}, "check")
    assert result.returncode != 0 and "PORT" in result.stderr and "Traceback" not in result.stderr


def test_debug_on_runs_without_secret() -> None:
    result = _manage({"DEBUG": "true"}, "check")
    assert result.returncode == 0, result.stderr


PRODUCTION = {"JWT_SECRET": "p" * 48, "ALLOWED_HOSTS": "chat.example.com", "DEBUG": "false"}


def test_check_deploy_only_reports_the_tls_warnings_left_to_the_proxy() -> None:
    result = _manage(PRODUCTION, "check", "--deploy")
    reported = {line.split(")")[0].lstrip("?: (") for line in result.stderr.splitlines() if line.startswith("?: (")}
    assert reported == {"security.W004", "security.W008"}, result.stderr


def test_check_deploy_is_clean_when_tls_is_served_directly() -> None:
    env = {**PRODUCTION, "SECURE_SSL_REDIRECT": "true", "SECURE_HSTS_SECONDS": "31536000"}
    result = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


# --- The development JWT secret (DEBUG without JWT_SECRET) -----------------------------------

SETTINGS_SECRET = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.JWT_SECRET); print(settings.SIMPLE_JWT['SIGNING_KEY'])"
)


def _debug_secret() -> str:
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_SECRET],
        cwd=ROOT,
        env={**_clean_env(), "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "chatproject.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    secret, signing_key = result.stdout.split()
    assert signing_key == secret
    return secret


def test_debug_without_jwt_secret_signs_with_a_random_secret_kept_in_an_ignored_file() -> None:
    """The secret used to be a constant in settings.py: anyone could forge a token for any user of
    a `make run` reachable over the network."""
    first, second = _debug_secret(), _debug_secret()
    assert first == second  # tokens survive a restart
    assert len(first) >= 32
    in_source = subprocess.run(["git", "grep", "-q", "-F", first], cwd=ROOT, check=False)
    assert in_source.returncode == 1, "the development secret is in a tracked file"
    path = ROOT / "data" / "dev-jwt-secret"
    assert path.read_text().strip() == first
    assert path.stat().st_mode & 0o777 == 0o600
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "data/dev-jwt-secret is not git-ignored"


def test_the_development_secret_is_made_once_even_by_processes_starting_together(tmp_path: Path) -> None:
    import threading

    from chatproject.settings import development_jwt_secret

    path = tmp_path / "data" / "dev-jwt-secret"
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def start() -> None:
        barrier.wait()
        seen.append(development_jwt_secret(path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 8 and len(set(seen)) == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["dev-jwt-secret"]  # no draft left behind
    assert development_jwt_secret(tmp_path / "other" / "dev-jwt-secret") != seen[0]  # random per checkout


def test_a_damaged_development_secret_file_stops_the_start_with_its_name(tmp_path: Path) -> None:
    from chatproject.settings import development_jwt_secret

    path = tmp_path / "dev-jwt-secret"
    path.write_text("short\n")
    with pytest.raises(EnvError, match="dev-jwt-secret"):
        development_jwt_secret(path)
