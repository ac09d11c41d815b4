"""Brute-force limits of accounts: failed logins per username and per client address, sign-ups
per address, all in the shared store (core.ratelimit), so they hold across every process.

A login attempt is counted before its password is checked and given back when it succeeds, so
that parallel wrong guesses cannot all pass a check made before any failure was recorded. A
refused attempt is answered before any database read or hash: the same answer in the same time
whether the name exists or not, so the limit cannot be used to probe for names.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from core import ratelimit
from core.ratelimit import Taken

LOGIN_REFUSED = "Too many failed logins; retry in {seconds} s."
SIGNUP_REFUSED = "Too many sign-ups from this address; retry in {seconds} s."


def _name_key(username: str) -> str:
    # Names are case-insensitive (accounts.models), so "Alice" and "alice" share a count; hashed,
    # so a key's length does not depend on what a client sent.
    digest = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return f"auth:login-failures:name:{digest}"


def login_attempt(*, username: str, address: str) -> Taken:
    """Count a login attempt against both limits, or raise RateLimited; `give_back()` on success."""
    limits = []
    per_name, per_address = settings.LOGIN_FAILURES_PER_USERNAME, settings.LOGIN_FAILURES_PER_ADDRESS
    if per_name.enabled:
        limits.append((_name_key(username), per_name.count, per_name.seconds))
    if per_address.enabled:
        limits.append((f"auth:login-failures:addr:{address}", per_address.count, per_address.seconds))
    return ratelimit.take_all(limits, what="login", message=LOGIN_REFUSED)


def signup_attempt(*, address: str) -> None:
    """Count a sign-up from `address` against SIGNUP_RATE_LIMIT, or raise RateLimited."""
    limit = settings.SIGNUP_RATE_LIMIT
    if limit.enabled:
        ratelimit.take_all(
            [(f"auth:signups:addr:{address}", limit.count, limit.seconds)], what="sign-up", message=SIGNUP_REFUSED
        )
