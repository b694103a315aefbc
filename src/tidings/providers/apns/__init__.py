"""APNs (Apple Push Notification service) over HTTP/2 with token-based (.p8 key, ES256 JWT) authentication.

client.py        ApnsProvider: Provider.send for Platform.APNS, one shared HTTP/2 client
device_token.py  the device token rule (registration and send): hex, 8 to 256 bytes
request.py       the request for one device: path, apns-* headers, JSON body
token.py         the provider JWT, cached per signing key and renewed every 50 minutes
errors.py        APNs status + reason -> Outcome
settings.py      instance.providers["apns"]: key_id, team_id, private_key, topic, environment
"""

from tidings.providers.apns.client import ApnsProvider
from tidings.providers.apns.settings import ApnsSettings, ApnsSettingsError, parse_settings

__all__ = ["ApnsProvider", "ApnsSettings", "ApnsSettingsError", "parse_settings"]
