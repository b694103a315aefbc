"""FCM (Firebase Cloud Messaging) HTTP v1 provider: Beams' legacy `fcm` payload sent through the v1 API.

settings.py     per-instance settings from instance.providers["fcm"] (the service account)
credentials.py  OAuth2 access tokens (JWT-bearer grant), cached and refreshed
device_token.py the device token rule (registration and send)
message.py      Beams `fcm` section -> v1 `message`
errors.py       v1 answers -> Outcome
client.py       FcmProvider, the piece the delivery pipeline uses
"""

from tidings.providers.fcm.client import FcmProvider
from tidings.providers.fcm.settings import FcmSettings, FcmSettingsError, ServiceAccount, parse_settings

__all__ = ["FcmProvider", "FcmSettings", "FcmSettingsError", "ServiceAccount", "parse_settings"]
