"""One root error for everything Tidings raises on purpose, and the table of Beams error kinds.

The whole tree (classes defined elsewhere name their module; a stdlib base in brackets is kept for callers
that catch it). tests/test_errors.py checks this drawing against the code.

    TidingsError
    ├── ConfigError                          bad settings: the server's at start, an instance's, a webhook's
    │   ├── ApnsSettingsError [ValueError]   providers/apns/settings.py: instance.providers["apns"] unusable
    │   ├── FcmSettingsError [ValueError]    providers/fcm/settings.py: instance.providers["fcm"] unusable
    │   └── WebhookSettingsError [ValueError]  beams_webhooks/settings.py: instance.providers["webhooks"] unusable
    ├── StorageError                         the database refused
    │   ├── StorageUnavailable               the database is down or unreachable (HTTP 503)
    │   └── RecordNotFound                   a row that should exist does not (HTTP 404 if it reaches the web)
    ├── AdapterError                         the cross-node adapter (Redis or in-process)
    │   ├── AdapterUnavailable               adapters/base.py: the backend did not answer in time (HTTP 503)
    │   └── BadMessage [ValueError]          adapters/bus.py: bytes on the bus that are not a message (dropped)
    ├── ProtocolError                        a Channels WebSocket frame was refused (Pusher code; closes if < 4300)
    │   └── SubscriptionError                a refused subscription: the channel's pusher:subscription_error
    ├── ApiError                             an HTTP request was refused: a status and {"error": message}
    │   ├── BadRequest                       400
    │   ├── Unauthorized                     401
    │   ├── Forbidden                        403
    │   ├── HttpNotFound                     404 (the resource named in the request does not exist)
    │   ├── PayloadTooLarge                  413
    │   └── BeamsError                       a Beams API refusal: a BeamsErrorKind (status, title) + description
    └── ProviderError                        a push gateway problem; providers turn it into an Outcome
        ├── InvalidDeviceToken [ValueError]  a token its gateway cannot take: refused at registration, dead at send
        ├── CredentialError                  providers/fcm/errors.py: the service account cannot sign
        ├── TokenError                       providers/fcm/errors.py: no OAuth2 access token (retried)
        ├── InvalidRequest [ValueError]      providers/http2.py: a request HTTP/2 cannot carry; nothing was sent
        ├── PrivateAddressError [OSError]    providers/netguard.py: a push host that is not on the public internet
        └── Http2Error                       providers/http2.py: no complete answer (transient)
            ├── ConnectError                 no usable connection
            ├── ConnectionClosed             the connection ended with the request in flight
            ├── StreamRefused                the peer did not process the request
            ├── StreamReset                  the peer reset the stream
            ├── RequestTimeout               the total deadline passed
            └── _NotUsable                   internal: a connection that takes no new streams

Outside the root on purpose: cli/common.py `Fail` is a click.ClickException, the CLI's boundary type (click
prints it and exits 1); the CLI translates TidingsError into it.

The web layer maps ApiError, RecordNotFound and the two *Unavailable to responses in one place
(web/errors.py) and ProtocolError to a `pusher:error` frame (and a close code) in one place; nothing below it
builds responses.
"""

from __future__ import annotations

from enum import Enum, unique


class TidingsError(Exception):
    """Root of every error Tidings raises on purpose."""


class ConfigError(TidingsError):
    pass


class StorageError(TidingsError):
    pass


class StorageUnavailable(StorageError):
    """The database did not answer (down, restarting, unreachable): worth a retry, unlike a refusal."""


class RecordNotFound(StorageError):
    """A stored record (app, instance, publish, webhook) named by id does not exist."""


class AdapterError(TidingsError):
    """The cross-node adapter failed; the concrete errors live in adapters/."""


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


class HttpNotFound(ApiError):
    status = 404


class PayloadTooLarge(ApiError):
    status = 413


@unique  # two kinds with one (status, title) would silently be one member
class BeamsErrorKind(Enum):
    """Every way a Beams API refuses a request: (HTTP status, the `error` title Beams clients read).

    Titles copy the real service where it is known, capitals included: SDKs and tests compare them.
    """

    # A body, path, query or field fails its rule. Lowercase r: what the real service sends for these.
    BAD_REQUEST = (400, "Bad request")
    # Well-formed but refused: a Beams Token missing a claim, a device already tied to another user.
    REJECTED = (400, "Bad Request")
    INVALID_CONTENT_TYPE = (400, "Invalid content type")
    INVALID_INTEREST = (400, "Invalid interest name")
    # The Android SDK stops retrying a registration only on this title.
    INVALID_TOKEN = (400, "InvalidToken")
    TOO_MANY_INTERESTS = (400, "Interest set too large")
    MISSING_AUTHORIZATION = (400, "Incomplete Request")
    UNAUTHORIZED = (401, "Unauthorized")
    FORBIDDEN = (403, "Forbidden")
    NOT_FOUND = (404, "Not Found")
    INSTANCE_NOT_FOUND = (404, "Instance not found")
    DEVICE_NOT_FOUND = (404, "Device not found")
    PUBLISH_NOT_FOUND = (404, "Publish not found")
    METHOD_NOT_ALLOWED = (405, "Method Not Allowed")
    BODY_TOO_LARGE = (413, "Bad request")
    # A publish body against the schema: descriptions are "`field`: message", the recorded shape.
    INVALID_PUBLISH = (422, "Bad Request")
    UNPROCESSABLE = (422, "Unprocessable Entity")
    RATE_LIMITED = (429, "Rate Limited")
    INTERNAL = (500, "Something went wrong")
    UNAVAILABLE = (503, "Service Unavailable")

    def __init__(self, status: int, title: str) -> None:
        self.status = status
        self.title = title

    @classmethod
    def for_status(cls, status: int) -> BeamsErrorKind | None:
        """The kind a refusal that is not a BeamsError (an outage, a 405 from routing) is answered with."""
        return _BY_STATUS.get(status)


_K = BeamsErrorKind
_BY_STATUS = {kind.status: kind for kind in (
    _K.BAD_REQUEST, _K.UNAUTHORIZED, _K.FORBIDDEN, _K.NOT_FOUND, _K.METHOD_NOT_ALLOWED, _K.BODY_TOO_LARGE,
    _K.UNPROCESSABLE, _K.RATE_LIMITED, _K.INTERNAL, _K.UNAVAILABLE,
)}


class BeamsError(ApiError):
    """A refused Beams API request: Beams clients read `{"error": kind.title, "description": description}`."""

    def __init__(self, kind: BeamsErrorKind, description: str) -> None:
        super().__init__(description, status=kind.status)
        self.kind = kind
        self.title = kind.title
        self.description = description


class ProviderError(TidingsError):
    """A push gateway problem. Providers translate these into Outcomes; `send` never raises them."""


class InvalidDeviceToken(ProviderError, ValueError):
    """A device token its gateway cannot take. The one rule per platform (providers/*/device_token.py) raises
    it: registration answers 400 InvalidToken, delivery records the device as dead without sending."""
