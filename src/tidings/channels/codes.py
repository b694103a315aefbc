"""Pusher close and error codes (protocol 7), with the ranges pusher-js acts on.

4000-4099: refused, no reconnect. 4100-4199: reconnect with backoff. 4200-4299: reconnect at once.
4300+: non-closing warnings sent as `pusher:error`.
"""

from enum import IntEnum


class Code(IntEnum):
    TLS_ONLY = 4000
    APP_NOT_FOUND = 4001
    APP_DISABLED = 4003
    OVER_CONNECTION_QUOTA = 4004
    PATH_NOT_FOUND = 4005
    INVALID_VERSION = 4006
    UNSUPPORTED_PROTOCOL = 4007
    NO_PROTOCOL = 4008
    UNAUTHORIZED = 4009
    OVER_CAPACITY = 4100
    GENERIC_RECONNECT = 4200
    PONG_NOT_RECEIVED = 4201
    CLOSED_INACTIVITY = 4202
    CLIENT_EVENT_REJECTED = 4301
    WATCHLIST_LIMIT = 4302
