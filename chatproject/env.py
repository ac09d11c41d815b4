"""Typed, validated reads of the environment: every variable the contract names goes through here.

A bad value stops the process with one line that names the variable, instead of a
traceback or, worse, a silently wrong default.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured


class EnvError(ImproperlyConfigured):
    """A variable of the environment is missing or malformed; the message is one line."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Reads variables from a mapping (os.environ by default) with validation."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            return None
        return value.strip()

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise EnvError(f"{name} must be true or false, got {value!r}")

    def integer(self, name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if not re.fullmatch(r"[0-9]+", value):
            raise EnvError(f"{name} must be a whole number, got {value!r}")
        number = int(value)
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            raise EnvError(f"{name} must be in {bounds}, got {number}")
        return number

    def string(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None or value == "" else value

    def items(self, name: str, default: list[str]) -> list[str]:
        value = self.raw(name)
        if value is None or value == "":
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True)
class RateLimit:
    """At most `count` events in any `seconds`-long window; `count == 0` means off."""

    count: int
    seconds: int

    @property
    def enabled(self) -> bool:
        return self.count > 0


_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_rate(name: str, value: str) -> RateLimit:
    """Parse `30/10s`, `30/s`, `100/m` or `off` into a RateLimit."""
    text = value.strip().lower()
    if text in {"off", "0", "none", "false"}:
        return RateLimit(0, 1)
    match = re.fullmatch(r"([0-9]+)\s*/\s*([0-9]*)\s*([smh])", text)
    if not match:
        raise EnvError(f"{name} must look like 30/10s, 100/m or off, got {value!r}")
    count = int(match.group(1))
    window = int(match.group(2) or "1") * _UNITS[match.group(3)]
    if count < 1 or window < 1:
        raise EnvError(f"{name} needs a count and a window of at least 1, got {value!r}")
    return RateLimit(count, window)


def parse_window(name: str, value: str) -> int | None:
    """A time window in whole seconds: `unlimited` is None (no limit), `off` is 0 (never allowed)."""
    text = value.strip().lower()
    if text == "unlimited":
        return None
    if text == "off":
        return 0
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < 1:
        raise EnvError(f"{name} must be a number of seconds (at least 1), unlimited or off, got {value!r}")
    return int(text)


_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def mime_types(name: str, values: list[str]) -> frozenset[str]:
    """A non-empty list of `type/subtype` names, lower-cased (`image/png,application/pdf`)."""
    found = frozenset(value.strip().lower() for value in values)
    bad = sorted(value for value in found if not _MIME_TYPE.fullmatch(value))
    if bad:
        raise EnvError(f"{name} must hold MIME types such as image/png separated by commas, got {bad[0]!r}")
    if not found:
        raise EnvError(f"{name} must name at least one MIME type")
    return found


def origin_of(url: str, name: str) -> str:
    """Reduce `https://app.example.com/path` to the origin `https://app.example.com`."""
    match = re.fullmatch(r"(https?)://([^/\s?#]+)(/[^\s]*)?", url.strip())
    if not match:
        raise EnvError(f"{name} must hold http(s) URLs separated by commas, got {url!r}")
    return f"{match.group(1)}://{match.group(2)}".lower()


def parse_networks(name: str, items: list[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse addresses and CIDR blocks (`10.0.0.0/8, 127.0.0.1`) into networks."""
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise EnvError(f"{name} must hold IP addresses or CIDR blocks separated by commas, got {item!r}") from None
    return tuple(networks)
