"""Structured one-line JSON logs, scrubbed of anything that grants access.

Tokens reach log records in URLs (`?token=`), headers and exception texts; the filter
rewrites them before any handler sees the record. Message bodies are never passed to a
logger by the chat code at all.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

# A JWT (three base64url parts, header starting `eyJ`), bearer values, and token=... pairs.
_PATTERNS = [
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[REDACTED]"),
    (re.compile(r"(?i)(bearer\s+)[^\s,;\"']+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)((?:access|refresh|token|password)[\"']?\s*[=:]\s*[\"']?)[^\s&,;\"'}]+"), r"\1[REDACTED]"),
]

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Replace tokens and passwords in the formatted message and in any extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JSONFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value if isinstance(value, (int, float, bool, type(None))) else str(value)
        if record.exc_info:
            body["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(body, ensure_ascii=False)


# --- The server's access log ----------------------------------------------------------------

# Query parameters whose values are safe to log; every other value (token, q, search, ...) is
# replaced, so neither credentials nor search terms (pieces of messages) reach the access log.
SAFE_QUERY_PARAMETERS = frozenset({"page", "limit", "before", "after", "format"})


def safe_path(path: str) -> str:
    """The request path with its query values redacted except the paging ones."""
    base, sep, query = path.partition("?")
    if not sep:
        return redact(base)
    parts = []
    for pair in query.split("&"):
        name, eq, _value = pair.partition("=")
        if name in SAFE_QUERY_PARAMETERS or not eq:
            parts.append(pair)
        else:
            parts.append(f"{name}=[REDACTED]")
    return redact(f"{base}?{'&'.join(parts)}")


class AccessLog:
    """Daphne's `action_logger`: one structured line per HTTP request and WebSocket event.

    It replaces daphne's own NCSA access log, which prints the raw URL (`?token=...`) to stdout
    past the logging filters.
    """

    _WS_ACTIONS = {"connecting": "WSCONNECTING", "connected": "WSCONNECT", "rejected": "WSREJECT"}

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("chat.access")

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return  # LOG_LEVEL above INFO: no line, so no redacted path to build for it (twice a connect)
        path = safe_path(str(details.get("path", "")))
        client = details.get("client") or "-"
        if protocol == "http" and action == "complete":
            method = str(details.get("method", "-"))
            status = details.get("status")
            self.logger.info(
                "%s %s %s",
                method,
                path,
                status,
                extra={"client": client, "method": method, "path": path, "status": status, "size": details.get("size")},
            )
        elif protocol == "websocket":
            verb = self._WS_ACTIONS.get(action, "WSDISCONNECT" if action == "disconnected" else action.upper())
            self.logger.info("%s %s", verb, path, extra={"client": client, "path": path, "ws": action})
