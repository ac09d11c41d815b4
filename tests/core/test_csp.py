"""Content-Security-Policy on every response that sets none of its own (Django's CSP middleware):
Swagger UI at /api/docs/ has no inline script to need more; the web client's page keeps its own."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from chat.web.views import CONTENT_SECURITY_POLICY


def _directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/admin/login/", "/api/auth/me", "/api/schema/"])
def test_docs_admin_and_api_answer_with_a_policy(client: Client, path: str) -> None:
    policy = _directives(client.get(path)["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


def test_swagger_ui_has_no_inline_script(client: Client) -> None:
    html = client.get("/api/docs/").content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all("src=" in attributes and not body.strip() for attributes, body in scripts)
    init = client.get("/api/docs/?script=")
    assert init.status_code == 200
    assert init["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in init.content.decode()


def test_the_web_client_keeps_its_stricter_policy(client: Client) -> None:
    assert client.get("/")["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
