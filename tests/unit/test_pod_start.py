"""Pods that take time to start (KANSLAB_POD_START_DELAY) and the emulated `kubectl wait`."""

from __future__ import annotations

import threading

import pytest

from kanslab.emulator import pod_start
from kanslab.errors import InvalidInput
from tests.unit.fixtures import assert_sandbox_refused, cli_lab, kctl

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: pod1, labels: {app: web}}
spec: {nodeName: k8s-w1, containers: [{name: pod1, image: nicolaka/netshoot}]}
---
apiVersion: v1
kind: Pod
metadata: {name: pod2, labels: {app: web}}
spec: {nodeName: k8s-w2, containers: [{name: pod2, image: nicolaka/netshoot}]}
"""


@pytest.fixture
def lab(tmp_path):
    return cli_lab(tmp_path)


def _start_all(ds):
    for p in ds.list("Pod"):
        if pod_start.is_creating(p):
            assert pod_start.start(ds, p["metadata"]["namespace"], p["metadata"]["name"], p["metadata"]["uid"]) is None


def test_without_a_delay_pods_are_running_after_apply(lab):
    assert kctl(lab, "apply -f -", PODS)[0] == 0
    assert kctl(lab, "wait --for=condition=Ready pod/pod1 pod/pod2 --timeout=1s") == (
        0, "pod/pod1 condition met\npod/pod2 condition met\n", "")


def test_with_a_delay_a_new_pod_is_container_creating_without_an_address(lab):
    pod_start.set_delay(lab.ds, 4)
    assert kctl(lab, "apply -f -", PODS)[0] == 0
    rc, out, _ = kctl(lab, "get pods -o wide")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [r[:3] for r in rows] == [["pod1", "0/1", "ContainerCreating"], ["pod2", "0/1", "ContainerCreating"]]
    assert [r[5] for r in rows] == ["<none>", "<none>"] and [r[6] for r in rows] == ["k8s-w1", "k8s-w2"]
    assert lab.ds.list("WorkloadEndpoint", "default") == []  # no CNI ADD yet: not reachable
    rc, out, err = kctl(lab, "wait --for=condition=Ready pod -l app=web --timeout=0.2s")
    assert rc == 1 and out == "" and err == "error: timed out waiting for the condition on pods/pod1\n"
    _start_all(lab.ds)  # the agent's part once the delay has passed
    pod = lab.ds.get("Pod", "pod1", "default")
    assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"].startswith("172.16.")
    assert len(lab.ds.list("WorkloadEndpoint", "default")) == 2
    assert kctl(lab, "wait --for=condition=Ready pod --all")[1] == "pod/pod1 condition met\npod/pod2 condition met\n"


def test_wait_returns_when_the_pod_becomes_ready(lab):
    pod_start.set_delay(lab.ds, 1)
    kctl(lab, "apply -f -", PODS)
    timer = threading.Timer(0.5, _start_all, args=(lab.ds,))
    timer.start()
    try:
        assert kctl(lab, "wait --for=condition=Ready pod/pod2 -n default --timeout=30s") == (
            0, "pod/pod2 condition met\n", "")
    finally:
        timer.cancel()


def test_wait_errors_as_kubectl(lab):
    kctl(lab, "apply -f -", PODS)
    assert kctl(lab, "wait --for=condition=Ready pod/nope") == (
        1, "", 'Error from server (NotFound): pods "nope" not found\n')
    assert kctl(lab, "wait --for=condition=Ready pod -l app=none") == (1, "", "error: no matching resources found\n")
    assert kctl(lab, "wait pod/pod1")[2] == "error: --for must be set\n"
    assert "invalid duration" in kctl(lab, "wait --for=condition=Ready pod/pod1 --timeout=soon")[2]
    assert kctl(lab, "wait --for=condition=Ready node/k8s-w1 --timeout=1s")[1] == "node/k8s-w1 condition met\n"


def test_the_delay_comes_from_the_environment():
    assert pod_start.delay_from_env({}) is None
    assert pod_start.delay_from_env({"KANSLAB_POD_START_DELAY": "4"}) == 4.0
    for bad in ("soon", "-1", "99999"):
        with pytest.raises(InvalidInput, match="KANSLAB_POD_START_DELAY"):
            pod_start.delay_from_env({"KANSLAB_POD_START_DELAY": bad})


def test_a_pod_the_cni_refuses_waits_in_container_creating_with_a_delay_too(lab):
    pinned = PODS.split("---")[0].replace("labels: {app: web}}",
                                          "labels: {app: web}, annotations: {cni.projectcalico.org/ipAddrs: "
                                          "'[\"172.16.34.7\"]'}}")
    assert kctl(lab, "apply -f -", pinned)[0] == 0
    pod_start.set_delay(lab.ds, 4)
    thief = pinned.replace("name: pod1", "name: thief").replace("k8s-w1", "k8s-w2")
    rc, out, _ = kctl(lab, "apply -f -", thief)
    assert rc == 0 and out == "pod/thief created\n"  # as on a cluster: the kubelet finds out later
    uid = lab.ds.get("Pod", "thief", "default")["metadata"]["uid"]
    assert pod_start.start(lab.ds, "default", "thief", uid, attempt=1) == \
        'plugin type="calico" failed (add): Address already assigned in block'
    assert_sandbox_refused(lab.ds, "thief", "Address already assigned in block")
