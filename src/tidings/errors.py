"""One root error for everything Tidings raises on purpose.

    TidingsError
    ├── ConfigError                 bad settings at start
    ├── StorageError                the database refused
    │   ├── StorageUnavailable      the database is down or unreachable (HTTP 503)
    │   └── NotFound                a row that should exist does not
    ├── ProtocolError               a Channels WebSocket frame was refused (has a Pusher code; closes if code < 4300)
    └── ApiError                    an HTTP request was refused (has an HTTP status and a JSON body)
        ├── BeamsError        any status; Beams APIs answer {"error": title, "description": text}
        ├── BadRequest        400
        ├── Unauthorized      401
        ├── Forbidden         403
        ├── NotFoundError     404
        ├── PayloadTooLarge   413
        └── TooManyRequests   429

The web layer maps ApiError to a response and ProtocolError to a `pusher:error` frame (and a close
code) in one place each; nothing below it builds responses.
"""

from __future__ import annotations


class TidingsError(Exception):
    """Root of every error Tidings raises on purpose."""


class ConfigError(TidingsError):
    pass


class StorageError(TidingsError):
    pass


class StorageUnavailable(StorageError):
    """The database did not answer (down, restarting, unreachable): worth a retry, unlike a refusal."""


class NotFound(StorageError):
    pass


class ProtocolError(TidingsError):
    """A Channels protocol error: `code` is the Pusher error/close code, `channel` scopes it if set."""

    def __init__(self, code: int | None, message: str, *, channel: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.channel = channel

    @property
    def closes(self) -> bool:
        """4000-4299 close the connection; 4300+ (and code-less errors) are warnings."""
        return self.code is not None and 4000 <= self.code < 4300


class SubscriptionError(ProtocolError):
    """A refused subscription: sent as the channel-scoped `pusher:subscription_error`."""

    def __init__(self, channel: str, message: str, *, type: str = "AuthError", status: int = 401) -> None:
        super().__init__(None, message, channel=channel)
        self.type = type
        self.status = status


class ApiError(TidingsError):
    status = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFoundError(ApiError):
    status = 404


class PayloadTooLarge(ApiError):
    status = 413


class TooManyRequests(ApiError):
    status = 429


class BeamsError(ApiError):
    """A refused Beams API request: Beams clients read `{"error": <title>, "description": <text>}`."""

    def __init__(self, status: int, title: str, description: str) -> None:
        super().__init__(description, status=status)
        self.title = title
        self.description = description
