"""Persistence for Tidings: SQLite (embedded default) or PostgreSQL behind one interface.

    storage = await open_storage(settings.resolved_database_url)
    await storage.migrate()
    app = await storage.apps.get_by_key(key)
    await storage.close()

Driver errors never leave this package: they become `tidings.errors.StorageError`, cause chained.
"""

from tidings.storage.apps import AppStore
from tidings.storage.beams import InterestResult, SetUserResult
from tidings.storage.database import Storage, open_storage
from tidings.storage.delivery import ActivePublish, Claimed, DeliveryResult, DeliveryStore, PublishProgress, Reschedule
from tidings.storage.devices import DeviceStore
from tidings.storage.gateway_tokens import GatewayToken, GatewayTokenStore
from tidings.storage.instances import InstanceStore
from tidings.storage.mailbox import MailboxStore
from tidings.storage.publishes import PublishStore

__all__ = [
    "ActivePublish",
    "Claimed",
    "AppStore",
    "DeliveryResult",
    "DeliveryStore",
    "DeviceStore",
    "GatewayToken",
    "GatewayTokenStore",
    "InstanceStore",
    "InterestResult",
    "MailboxStore",
    "PublishProgress",
    "PublishStore",
    "Reschedule",
    "SetUserResult",
    "Storage",
    "open_storage",
]
