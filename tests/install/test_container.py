"""The container image and the compose stack, built and run with podman: scripts/container-test (read it for the
steps). It needs root (podman rootful; podman, runc and debootstrap installed from apt when missing) and is skipped
otherwise. About 30 s with the cached base image, 90 s without; each step's time is printed (pytest -s).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = 77  # the script's exit status when it cannot run here


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="podman on Linux")
def test_image_and_compose_stack_with_podman() -> None:
    proc = subprocess.Popen([str(ROOT / "scripts" / "container-test")], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = proc.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the script tears everything down on SIGTERM
        output, _ = proc.communicate(timeout=120)
        pytest.fail(f"scripts/container-test did not finish in 1200 s:\n{output[-6000:]}")
    print(output)
    if proc.returncode == SKIPPED:
        pytest.skip(output.strip().splitlines()[-1])
    assert proc.returncode == 0, f"scripts/container-test failed ({proc.returncode}):\n{output[-6000:]}"
    assert "reached a WebSocket client on node 2" in output
