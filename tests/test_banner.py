"""What `tidings serve` prints at start."""

from __future__ import annotations

import pytest

from tidings.banner import PRIVATE_PUSH_WARNING, beams_banner
from tidings.beams.instances import new_instance


@pytest.mark.parametrize("created", [True, False])
def test_beams_banner_warns_when_private_push_networks_are_allowed(created: bool) -> None:
    instance = new_instance()
    kwargs = {"created": created, "base_url": "http://127.0.0.1:6001"}

    assert PRIVATE_PUSH_WARNING in beams_banner(instance, **kwargs, allow_private_push=True).splitlines()
    assert "WARNING" not in beams_banner(instance, **kwargs)
    assert beams_banner(instance, **kwargs).endswith("\n")
