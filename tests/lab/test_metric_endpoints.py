"""Felix's and calico-kube-controllers' endpoints on a real lab, curled from inside it."""

from __future__ import annotations

import re

import pytest

from kanslab import parse

pytestmark = pytest.mark.lab

ON = """patch felixconfiguration default --patch '{"spec":{"prometheusMetricsEnabled": true}}'"""
OFF = """patch felixconfiguration default --patch '{"spec":{"prometheusMetricsEnabled": false}}'"""


def test_kube_controllers_9094_and_felix_9091_from_inside_the_lab(lab):
    pods = lab.pods()
    kc = pods[(pods.namespace == "kube-system") & pods.name.str.startswith("calico-kube-controllers-")]
    assert len(kc) == 1
    text = lab.sh("k8s-m", f"curl -sS --max-time 5 http://{kc.ip.iloc[0]}:9094/metrics")
    df = parse.prometheus(text)
    assert {"ipam_allocations_in_use", "ipam_blocks", "ipam_ippool_size", "go_goroutines"} <= set(df.metric)
    blocks = parse.calico_ipam_blocks(lab.calicoctl("ipam show --show-blocks")) \
        if hasattr(parse, "calico_ipam_blocks") else None
    in_use = df[df.metric == "ipam_allocations_in_use"]
    assert in_use.value.sum() >= len(pods[pods.ip.notna() & (pods.ip.str.startswith("172.16."))])
    assert blocks is None or len(blocks) >= 1
    lab.calicoctl(ON)
    try:
        for ip in ("192.168.10.10", "192.168.10.101"):
            text = lab.sh("k8s-m", f"curl -sS --max-time 5 http://{ip}:9091/metrics")
            types = re.findall(r"^# TYPE (\S+)", text, re.M)
            assert len(types) >= 50
            assert {"felix_active_local_endpoints", "felix_int_dataplane_apply_time_seconds", "felix_iptables_chains",
                    "felix_ipset_calls", "go_goroutines", "process_resident_memory_bytes"} <= set(types)
            df = parse.prometheus(text)
            assert df[df.metric == "felix_int_dataplane_apply_time_seconds_count"].value.item() >= 1
    finally:
        lab.calicoctl(OFF)


def test_kanslab_forward_opens_a_loopback_port_into_the_lab_and_stops_on_ctrl_c(lab):
    import signal
    import subprocess
    import sys
    import urllib.request

    pods = lab.pods()
    ip = pods[pods.name.str.startswith("calico-kube-controllers-")].ip.iloc[0]
    p = subprocess.Popen([sys.executable, "-m", "kanslab.cli", "--prefix", lab.backend.prefix, "forward", f"{ip}:9094",
                          "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        m = re.match(r"(http://127\.0\.0\.1:(\d+)/) -> (\S+) \(from k8s-m\)", line)
        assert m and m.group(3) == f"{ip}:9094", line + p.stderr.read() if p.poll() is not None else line
        body = urllib.request.urlopen(m.group(1) + "metrics", timeout=5).read().decode()
        assert "ipam_blocks" in body
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0 and "forward stopped" in out, err
