from __future__ import annotations

import re
import uuid

import pytest

from tidings.beams.ids import (
    new_device_id,
    new_instance_id,
    new_publish_id,
    new_secret_key,
    platform_of_device_id,
)
from tidings.beams.models import Platform

UUID = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

# Fixed, not random: parametrize ids must be the same in every pytest-xdist worker.
FIXED = "6926ba90-f459-4cf5-85f1-bfaeae09329a"


def test_instance_id_is_a_uuid4() -> None:
    value = new_instance_id()
    assert re.fullmatch(UUID, value)
    assert uuid.UUID(value).version == 4


def test_secret_key_is_64_uppercase_hex_and_random() -> None:
    keys = {new_secret_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(re.fullmatch("[0-9A-F]{64}", key) for key in keys)


@pytest.mark.parametrize("platform", list(Platform))
def test_device_id_is_platform_dash_uuid_and_reads_back(platform: Platform) -> None:
    device_id = new_device_id(platform)
    assert re.fullmatch(f"{platform.value}-{UUID}", device_id)
    assert platform_of_device_id(device_id) is platform


def test_publish_id_is_pubid_dash_uuid() -> None:
    assert re.fullmatch(f"pubid-{UUID}", new_publish_id())
    assert new_publish_id() != new_publish_id()


@pytest.mark.parametrize(
    "device_id",
    [
        "",
        "web",
        "web-",
        "web-not-a-uuid",
        "WEB-" + FIXED,
        "web-" + FIXED.upper(),
        "gcm-" + FIXED,
        "web-" + FIXED + "\n",
        "web-" + FIXED + "x",
        "xweb-" + FIXED,
        "pubid-" + FIXED,
        "web-" + FIXED.replace("-", ""),
    ],
)
def test_foreign_device_ids_have_no_platform(device_id: str) -> None:
    assert platform_of_device_id(device_id) is None
