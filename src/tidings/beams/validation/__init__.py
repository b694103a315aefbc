"""What the Beams APIs accept, and the exact error each refusal carries, split by API.

request.py    every API: the path, the content type, a JSON object body (storable: no NUL, not too deep)
names.py      interest names and user ids, shared by the APIs that take them
publish.py    the publish API
devices.py    the device API's bodies (registration, metadata, FCM token); token rules come from providers/
interests.py  a device's interest set and the listing's pages
reporting.py  the reporting API's events

Each refusal is a BeamsError of one BeamsErrorKind (errors.py holds the status and title of each), which the
web layer renders as {"error": title, "description": description}.
"""

from tidings.beams.validation.devices import (
    MAX_DEVICE_BODY,
    MAX_DEVICES_PER_USER_PER_PLATFORM,
    MAX_METADATA_SIZE,
    MAX_TOKEN_LENGTH,
    Registration,
    TokenRule,
    invalid_token,
    parse_metadata,
    parse_registration,
    parse_token,
)
from tidings.beams.validation.interests import (
    MAX_INTEREST_SET_BODY,
    MAX_INTERESTS_PER_DEVICE,
    encode_cursor,
    parse_interest_set,
    parse_list_limit,
    too_many_interests,
)
from tidings.beams.validation.names import MAX_ID_LENGTH, check_interest, check_user_id
from tidings.beams.validation.publish import (
    MAX_INTERESTS_BODY,
    MAX_INTERESTS_PER_PUBLISH,
    MAX_USERS_BODY,
    MAX_USERS_PER_PUBLISH,
    ROUTING,
    PublishRequest,
    RoutedEvent,
    check_routing,
    parse_publish,
    routed_event,
)
from tidings.beams.validation.reporting import MAX_REPORTING_BODY, ReportingEvent, parse_reporting_event
from tidings.beams.validation.request import MAX_JSON_DEPTH, check_content_type, check_path

__all__ = [
    "MAX_DEVICES_PER_USER_PER_PLATFORM",
    "MAX_DEVICE_BODY",
    "MAX_ID_LENGTH",
    "MAX_INTERESTS_BODY",
    "MAX_INTERESTS_PER_DEVICE",
    "MAX_INTERESTS_PER_PUBLISH",
    "MAX_INTEREST_SET_BODY",
    "MAX_JSON_DEPTH",
    "MAX_METADATA_SIZE",
    "MAX_REPORTING_BODY",
    "MAX_TOKEN_LENGTH",
    "MAX_USERS_BODY",
    "MAX_USERS_PER_PUBLISH",
    "PublishRequest",
    "ROUTING",
    "RoutedEvent",
    "Registration",
    "ReportingEvent",
    "TokenRule",
    "check_content_type",
    "check_interest",
    "check_routing",
    "check_path",
    "check_user_id",
    "encode_cursor",
    "invalid_token",
    "parse_interest_set",
    "parse_list_limit",
    "parse_metadata",
    "parse_publish",
    "parse_registration",
    "parse_reporting_event",
    "parse_token",
    "routed_event",
    "too_many_interests",
]
