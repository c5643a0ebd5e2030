"""Pods that take time to start: with KANSLAB_POD_START_DELAY the embedded lab behaves like a cluster
pulling images, and lab.wait_ready() is what a chapter uses to wait for them."""

from __future__ import annotations

import json
import time

import pytest

import kanslab

SLOW = """apiVersion: v1
kind: Pod
metadata: {name: slowpod, labels: {app: slow}}
spec:
  nodeName: k8s-w1
  containers: [{name: slowpod, image: traefik/whoami}]
  terminationGracePeriodSeconds: 0
"""


@pytest.fixture
def start_delay(lab, monkeypatch, request):
    seconds = getattr(request, "param", 4)
    monkeypatch.setenv("KANSLAB_POD_START_DELAY", str(seconds))
    assert lab.up(progress=False) is False  # a running lab takes the new delay, nothing else changes
    try:
        yield seconds
    finally:
        monkeypatch.setenv("KANSLAB_POD_START_DELAY", "0")
        lab.up(progress=False)
        lab.delete(SLOW)


def test_a_new_pod_is_pending_after_apply_and_running_once_started(lab, start_delay):
    lab.apply(SLOW)
    t0 = time.monotonic()
    # one read right after the apply (on a loaded 2-core machine each command takes a second or two)
    pod = json.loads(lab.kubectl("get pod slowpod -o json"))
    assert pod["status"]["phase"] == "Pending" and not pod["status"].get("podIP")
    assert [c["state"] for c in pod["status"]["containerStatuses"]] == [{"waiting": {"reason": "ContainerCreating"}}]
    # Running within 5 s of the apply: wait for the state, bounded by what is left of those 5 s (+1 for kubectl's
    # whole seconds)
    out = lab.wait_ready(["default/slowpod"], timeout=max(1, 6 - (time.monotonic() - t0)))
    assert out == "pod/slowpod condition met\n"
    assert lab.pods().set_index("name").loc["slowpod", "phase"] == "Running"
    ip = lab.pod_ip("default/slowpod")
    assert f"inet {ip}/32" in lab.exec("default/slowpod", "ip -o addr show dev eth0")


@pytest.mark.parametrize("start_delay", [60], indirect=True)
def test_wait_ready_names_a_pod_still_creating(lab, start_delay):
    """A pod still pulling its image (a delay no test step outlasts): kubectl shows ContainerCreating and
    wait_ready's error says so."""
    lab.apply(SLOW)
    assert "ContainerCreating" in lab.kubectl("get pod slowpod")
    with pytest.raises(kanslab.LabError, match=r"default/slowpod: Pending \(ContainerCreating\)"):
        lab.wait_ready("slowpod", timeout=1)
