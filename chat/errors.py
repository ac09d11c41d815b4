"""Domain errors raised by the service layer, each carrying its HTTP status and socket code.

They are translated once: to the REST envelope by chatproject.api.exception_handler and to
`error` frames by the WebSocket consumer.
"""

from __future__ import annotations


class ChatError(Exception):
    """Base of every error a caller may show to a client."""

    code = "error"
    status = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, errors: dict[str, list[str]] | None = None) -> None:
        self.message = message or self.default_message
        self.errors = errors
        super().__init__(self.message)


class Invalid(ChatError):
    code = "invalid"
    status = 400
    default_message = "Invalid input."

    @classmethod
    def field(cls, name: str, problem: str) -> Invalid:
        return cls(f"{name}: {problem}", errors={name: [problem]})


class Unauthenticated(ChatError):
    code = "unauthenticated"
    status = 401
    default_message = "Authentication credentials were not provided or are not valid."


class Forbidden(ChatError):
    code = "forbidden"
    status = 403
    default_message = "You are not allowed to do that."


class NotFound(ChatError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class RateLimited(ChatError):
    code = "rate_limited"
    status = 429
    default_message = "Too many messages; slow down."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message or f"Too many messages; retry in {self.retry_after} s.")
