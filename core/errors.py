"""Domain errors raised by the service layers, each carrying its HTTP status and socket code.

They are translated once: to the REST envelope by core.rest.exception_handler and to `error`
frames by the WebSocket consumer.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller may show to a client."""

    code = "error"
    status = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, errors: dict[str, list[str]] | None = None) -> None:
        self.message = message or self.default_message
        self.errors = errors
        super().__init__(self.message)


class Invalid(DomainError):
    code = "invalid"
    status = 400
    default_message = "Invalid input."

    @classmethod
    def field(cls, name: str, problem: str) -> Invalid:
        return cls(f"{name}: {problem}", errors={name: [problem]})


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401
    default_message = "Authentication credentials were not provided or are not valid."


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    default_message = "You are not allowed to do that."


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    default_message = "Too many messages; slow down."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message or f"Too many messages; retry in {self.retry_after} s.")


# Every code a client can be answered with, on either transport: metrics label values come
# from this set only, so the number of series stays bounded whatever clients send.
ERROR_CODES = frozenset(
    {
        "invalid",
        "invalid_json",
        "unknown_event",
        "unauthenticated",
        "forbidden",
        "not_found",
        "rate_limited",
        "unavailable",
        "internal",
        "method_not_allowed",
        "unsupported_media_type",
        "not_acceptable",
        "payload_too_large",
    }
)
