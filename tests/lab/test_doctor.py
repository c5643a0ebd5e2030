"""`kanslab doctor` says what the kernel can do and which IPIP path the lab uses."""

import os
import subprocess
import sys

import pytest

from kanslab.backends.local.probe import kernel_features

pytestmark = pytest.mark.lab


def test_doctor_reports_features_daemons_and_ipip_path():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    out = subprocess.run([sys.executable, "-m", "kanslab.cli", "doctor"], capture_output=True, text=True).stdout
    feats = kernel_features()
    assert f"kernel ipip: {'yes' if feats['ipip'] else 'no'}" in out
    assert ("kernel ipip (tunl0 is a real ipip device)" if feats["ipip"] else "user-space encapsulator") in out
    assert "bird: BIRD version 1.6" in out and "zebra version" in out
    assert "prometheus (chapter 05): prometheus, version 2." in out
    assert "kanslab-probe" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_running_lab_uses_the_path_doctor_names(lab):
    assert lab.backend.agent_info()["kernel_ipip"] == kernel_features()["ipip"]
    tunl0 = lab.sh("k8s-w1", "ip -d link show tunl0")
    assert ("ipip" in tunl0) == kernel_features()["ipip"]
