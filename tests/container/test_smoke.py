"""scripts/container-smoke.sh: the live lab in a container, from nothing to chapter 01 green inside it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.lab.conftest import root_ns_snapshot

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.container, pytest.mark.timeout(3600)]


def test_chapter_01_passes_in_the_container_and_the_host_network_is_untouched():
    if os.geteuid() != 0:
        pytest.skip("the container smoke test needs root (it may install and start dockerd); run `sudo make test`")
    before = root_ns_snapshot()
    p = subprocess.run([str(ROOT / "scripts" / "container-smoke.sh")], cwd=ROOT, capture_output=True, text=True,
                       timeout=3500)
    assert p.returncode == 0, (p.stdout + p.stderr)[-6000:]
    assert "chapter 01 passed in the container" in p.stdout
    assert " passed" in p.stdout  # pytest's summary from inside the container
    assert root_ns_snapshot() == before
