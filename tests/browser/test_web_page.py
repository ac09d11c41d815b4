"""The page at `/` and its static files, in-process (no browser): served, self-contained, safe."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings

from chat.web.views import CONTENT_SECURITY_POLICY
from core.middleware import StaticFilesMiddleware

STATIC = Path(__file__).resolve().parents[2] / "chat" / "static" / "chat"
TEMPLATE = Path(__file__).resolve().parents[2] / "chat" / "templates" / "chat" / "index.html"


def _page_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


def _module_imports(path: Path) -> list[str]:
    return re.findall(r'^import .* from "\./([^"]+)";$', path.read_text(), flags=re.MULTILINE)


def test_page_is_served_to_anyone_with_a_strict_content_security_policy(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    html = response.content.decode()
    assert '<script type="module" src="/static/chat/app.js"></script>' in html
    assert "/static/chat/style.css" in html


@pytest.mark.parametrize(
    ("endpoint", "sources"),
    [
        ("http://127.0.0.1:9000", "img-src 'self' data: http://127.0.0.1:9000 http://*.127.0.0.1:9000;"),
        ("", "img-src 'self' data: https://*.amazonaws.com;"),
    ],
)
def test_with_s3_images_may_load_from_the_store_and_nothing_else_widens(
    client: Client, settings: Any, endpoint: str, sources: str
) -> None:
    settings.S3_BUCKET = "chat-media"
    settings.S3_ENDPOINT_URL = endpoint
    policy = client.get("/")["Content-Security-Policy"]
    assert sources in policy + ";"
    assert policy.replace(sources.rstrip(";"), "img-src 'self' data:") == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(("window", "shown"), [(900, "900"), (None, "unlimited"), (0, "0")])
def test_page_tells_the_client_the_edit_window(client: Client, settings: Any, window: int | None, shown: str) -> None:
    settings.MESSAGE_EDIT_WINDOW_SECONDS = window
    html = client.get("/").content.decode()
    assert f'<meta name="chat-edit-window" content="{shown}">' in html


def test_page_refuses_writes_without_a_server_error(client: Client) -> None:
    assert client.post("/").status_code == 405


@pytest.mark.parametrize("debug", [False, True])
def test_every_file_the_page_loads_is_served_with_its_type(client: Client, settings: Any, debug: bool) -> None:
    """Daphne serves no static files itself: without the WhiteNoise middleware these are 404s."""
    settings.DEBUG = debug
    fresh = Client()  # a new handler builds its middleware under these settings
    html = fresh.get("/").content.decode()
    assets = _page_assets(html)
    modules = {f"/static/chat/{name}" for name in _module_imports(STATIC / "app.js")}
    assert modules == {"/static/chat/api.js", "/static/chat/socket.js", "/static/chat/ui.js"}
    for url in [*assets, *sorted(modules)]:
        response = fresh.get(url)
        assert response.status_code == 200, url
        expected = "text/css" if url.endswith(".css") else "text/javascript"
        assert response["Content-Type"].startswith(expected), (url, response["Content-Type"])
        assert len(b"".join(response.streaming_content)) > 100  # type: ignore[attr-defined]


def test_client_loads_nothing_from_other_sites() -> None:
    """No CDN: every URL in the page and the scripts is the server's own."""
    for path in [TEMPLATE, *STATIC.iterdir()]:
        text = path.read_text()
        assert not re.search(r"https?://", text), path.name
    for url in re.findall(r'(?:src|href)="([^"]+)"', TEMPLATE.read_text()):
        assert url.startswith(("{% static", "data:")), url


def test_scripts_never_parse_strings_as_html() -> None:
    """User text reaches the DOM only through textContent and text nodes."""
    for path in STATIC.glob("*.js"):
        source = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, (path.name, sink)


def test_missing_static_root_is_not_an_error_or_warning(tmp_path: Path) -> None:
    """Before collectstatic has run, the app files are served through the finders, silently."""
    with override_settings(STATIC_ROOT=tmp_path / "absent", DEBUG=False), warnings.catch_warnings():
        warnings.simplefilter("error")
        middleware = StaticFilesMiddleware(get_response=lambda request: None)
    assert "/static/chat/app.js" in middleware.files
