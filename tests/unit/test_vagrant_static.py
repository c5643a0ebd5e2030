"""Static checks of vagrant/: the Vagrantfile (ruby -c, what it configures, vagrant validate where Vagrant
exists), the provisioning scripts (shellcheck), and the course's manifests.

Vagrant and VirtualBox do not run in CI; the Vagrantfile is evaluated by a recorder
(tests/unit/data/vagrant_recorder.rb) that stands in for Vagrant's configuration object."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from kanslab.emulator.manifests import load_manifest
from kanslab.topology import load_topology
from tests.tools import need_tool

ROOT = Path(__file__).resolve().parents[2]
VAGRANT = ROOT / "vagrant"
SCRIPTS = sorted((VAGRANT / "provision").glob("*.sh"))
RECORDER = Path(__file__).parent / "data" / "vagrant_recorder.rb"
TOPO = load_topology("kans3")


def _need(tool: str) -> str:
    return need_tool(tool)


def test_vagrantfile_is_valid_ruby():
    p = subprocess.run([_need("ruby"), "-c", str(VAGRANT / "Vagrantfile")], capture_output=True, text=True)
    assert p.returncode == 0 and "Syntax OK" in p.stdout, p.stderr


def test_provisioning_scripts_are_shellcheck_clean():
    assert {s.name for s in SCRIPTS} >= {"common.sh", "control.sh", "worker.sh", "router.sh", "calico.sh",
                                         "calicoctl.sh", "routes.sh", "hosts.sh", "manifests.sh"}
    p = subprocess.run([_need("shellcheck"), "--severity=style", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    for s in SCRIPTS:
        assert s.read_text().startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail" in s.read_text(), f"{s.name} does not stop on errors"


def test_vagrant_validate():
    exe = need_tool("vagrant")
    p = subprocess.run([exe, "validate", "--ignore-provider"], cwd=VAGRANT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


# -- what the Vagrantfile configures --------------------------------------------------------------

def _record(env: dict | None = None) -> list:
    p = subprocess.run([_need("ruby"), str(RECORDER), str(VAGRANT / "Vagrantfile")], capture_output=True,
                       text=True, env={**os.environ, **(env or {})})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _calls(block: list, prefix: str = ""):
    """Flatten the recorder's tree into (path, call, args, kw)."""
    for c in block:
        path = f"{prefix}.{c['call']}" if prefix else c["call"]
        yield path, c["call"], c["args"], c["kw"]
        yield from _calls(c["block"], path)


def _machines(env: dict | None = None) -> dict[str, dict]:
    out = {}
    for c in _record(env):
        for d in c["block"]:
            if d["call"] != "define":
                continue
            m = {"ips": [], "provision": [], "customize": [], "ports": []}
            for _path, call, args, kw in _calls(d["block"]):
                if call == "hostname=":
                    m["hostname"] = args[0]
                elif call == "network" and args[0] == "private_network":
                    m["ips"].append(kw["ip"])
                elif call == "network" and args[0] == "forwarded_port":
                    m["ports"].append((kw["guest"], kw["host"]))
                    m.setdefault("port_bind", []).append(kw.get("host_ip"))
                elif call in ("cpus=", "memory=", "name=", "linked_clone="):
                    m[call[:-1]] = args[0]
                elif call == "customize":
                    m["customize"].append(args[0])
                elif call == "provision":
                    m["provision"].append({"type": args[0], **kw})
            out[d["args"][0]] = m
    return out


def test_machines_names_addresses_and_sizes_as_in_the_course():
    ms = _machines()
    assert list(ms) == ["k8s-m", "router", "k8s-w0", "k8s-w1", "k8s-w2"]  # the router before k8s-w0
    assert ms["k8s-m"]["ips"] == ["192.168.10.10"]
    assert ms["k8s-w1"]["ips"] == ["192.168.10.101"] and ms["k8s-w2"]["ips"] == ["192.168.10.102"]
    assert ms["k8s-w0"]["ips"] == ["192.168.20.100"]
    assert ms["router"]["ips"] == ["192.168.10.254", "192.168.20.254"]
    assert {n: (m["cpus"], m["memory"]) for n, m in ms.items()} == {
        "k8s-m": (4, 4096), "router": (2, 1024), "k8s-w0": (4, 2048), "k8s-w1": (4, 2048), "k8s-w2": (4, 2048)}
    assert {n: m["ports"] for n, m in ms.items()} == {
        "k8s-m": [(22, 50010)], "router": [(22, 50000)], "k8s-w0": [(22, 50020)], "k8s-w1": [(22, 50011)],
        "k8s-w2": [(22, 50012)]}
    for n, m in ms.items():
        assert m["port_bind"] == ["127.0.0.1"], n  # the laptop's loopback, not every interface
        assert m["hostname"] == n and m["name"] == f"Calico-{n}" and m["linked_clone"] is True
        assert ["modifyvm", "id", "--groups", "/Calico-Lab"] in m["customize"]
        promisc = ["modifyvm", "id", "--nicpromisc2", "allow-vms"] in m["customize"]
        assert promisc == (n in ("k8s-m", "k8s-w1", "k8s-w2")), n  # as in the original lab


def test_box_is_pinned():
    top = {path: args for path, _, args, _ in _calls(_record()) if path.startswith("vm.box")}
    assert top["vm.box="] == ["ubuntu/jammy64"] and top["vm.box_version="] == ["20240823.0.1"]


def _prov(m: dict, name: str) -> dict:
    return next(p for p in m["provision"] if p.get("name") == name)


def test_kubeadm_calico_and_routes_come_from_the_topology():
    ms = _machines()
    ctl = _prov(ms["k8s-m"], "control-plane")
    assert ctl["path"] == "provision/control.sh"
    assert ctl["args"][:3] == ["192.168.10.10", "172.16.0.0/16", "10.200.1.0/24"]
    assert _prov(ms["k8s-m"], "calico")["args"] == ["v3.28.1", "24"]
    for w in ("k8s-w0", "k8s-w1", "k8s-w2"):
        assert _prov(ms[w], "join")["args"] == ["192.168.10.10", ctl["args"][3]]
        assert _prov(ms[w], "calicoctl")["args"] == ["v3.28.1"]
    assert _prov(ms["k8s-w1"], "routes")["args"] == ["enp0s8", "192.168.20.0/24=192.168.10.254"]
    assert _prov(ms["k8s-w0"], "routes")["args"] == ["enp0s8", "192.168.10.0/24=192.168.20.254"]
    assert _prov(ms["k8s-w1"], "common")["args"] == ["1.30", "192.168.10.101"]
    hosts = _prov(ms["router"], "hosts")["args"]
    assert "192.168.10.10 k8s-m" in hosts and "192.168.20.100 k8s-w0" in hosts and "192.168.10.254 router" in hosts
    order = [p.get("name") or p["type"] for p in ms["k8s-m"]["provision"]]
    assert order.index("routes") < order.index("control-plane") < order.index("calico") < order.index("manifests")
    files = [p for p in ms["k8s-m"]["provision"] if p["type"] == "file"]
    assert files == [{"type": "file", "source": "manifests", "destination": "/tmp/kanslab-manifests"}]


def test_router_gets_the_topologys_frr_conf_and_idc_networks():
    args = _prov(_machines()["router"], "router")["args"]
    assert base64.b64decode(args[0]).decode() == TOPO.router.frr_conf  # one source: the topology file
    assert args[1:] == [f"{dev}={addr}" for dev, addr in TOPO.router.idc_networks.items()]
    assert args[1:] == ["loop1=10.1.1.254/24", "loop2=10.1.2.254/24"]


def test_number_of_workers_is_configurable():
    """KANS_WORKERS=N: k8s-w0..k8s-wN, the extra ones placed by the topology's extra_workers rule
    (alternate racks, host number 100 + I), the same placement as `kanslab up --workers N`."""
    from kanslab.topology import load_topology

    ms = _machines({"KANS_WORKERS": "4"})
    assert list(ms) == ["k8s-m", "router", "k8s-w0", "k8s-w1", "k8s-w2", "k8s-w3", "k8s-w4"]
    assert ms["k8s-w3"]["ips"] == ["192.168.20.103"] and ms["k8s-w3"]["ports"] == [(22, 50013)]
    assert ms["k8s-w4"]["ips"] == ["192.168.10.104"]
    assert "192.168.20.103 k8s-w3" in _prov(ms["k8s-m"], "hosts")["args"]
    embedded = {n.name: n.ip for n in load_topology("kans3", workers=4).nodes}
    assert {name: m["ips"][0] for name, m in ms.items() if name != "router"} == embedded
    assert list(_machines({"KANS_WORKERS": "1"})) == ["k8s-m", "router", "k8s-w0", "k8s-w1"]
    p = subprocess.run([_need("ruby"), str(RECORDER), str(VAGRANT / "Vagrantfile")], capture_output=True, text=True,
                       env={**os.environ, "KANS_WORKERS": "200"})
    assert p.returncode != 0 and "must be from 0 to 153" in p.stderr


# -- provisioning pieces that run anywhere --------------------------------------------------------

CALICO_SNIPPET = """\
            # Auto-detect the BGP IP address.
            - name: IP
              value: "autodetect"
            # Enable IPIP
            - name: CALICO_IPV4POOL_IPIP
              value: "Always"
            # Enable or Disable VXLAN on the default IP pool.
            - name: CALICO_IPV4POOL_VXLAN
              value: "Never"
"""


def test_calico_manifest_gets_the_block_size(tmp_path):
    """calico.sh's patch (the course's only change to calico.yaml) on the env list of calico-node."""
    (tmp_path / "up.yaml").write_text("env:\n" + CALICO_SNIPPET)
    subprocess.run(["bash", str(VAGRANT / "provision" / "calico.sh"), "--patch-only", str(tmp_path / "up.yaml"),
                    str(tmp_path / "out.yaml"), "24"], check=True)
    env = yaml.safe_load((tmp_path / "out.yaml").read_text())["env"]
    assert [e["name"] for e in env] == ["IP", "CALICO_IPV4POOL_BLOCK_SIZE", "CALICO_IPV4POOL_IPIP",
                                        "CALICO_IPV4POOL_VXLAN"]
    assert env[1]["value"] == "24"
    (tmp_path / "bad.yaml").write_text("env: []\n")
    p = subprocess.run(["bash", str(VAGRANT / "provision" / "calico.sh"), "--patch-only", str(tmp_path / "bad.yaml"),
                        str(tmp_path / "out2.yaml"), "24"], capture_output=True, text=True)
    assert p.returncode != 0 and "could not set CALICO_IPV4POOL_BLOCK_SIZE" in p.stderr


def test_calico_is_pinned_to_v3_28_1():
    text = (VAGRANT / "provision" / "calico.sh").read_text()
    assert "raw.githubusercontent.com/projectcalico/calico/${VERSION}/manifests/calico.yaml" in text
    assert "calicoctl-linux-${ARCH}" in (VAGRANT / "provision" / "calicoctl.sh").read_text()
    assert 'CALICO_VERSION = "v3.28.1"' in (VAGRANT / "Vagrantfile").read_text()


def test_hosts_block_is_replaced_not_appended(tmp_path):
    f = tmp_path / "hosts"
    f.write_text("127.0.0.1 localhost\n")
    env = {**os.environ, "KANSLAB_HOSTS_FILE": str(f)}
    run = ["bash", str(VAGRANT / "provision" / "hosts.sh")]
    subprocess.run(run + ["192.168.10.10 k8s-m", "192.168.10.101 k8s-w1"], env=env, check=True, capture_output=True)
    first = f.read_text()
    subprocess.run(run + ["192.168.10.10 k8s-m", "192.168.10.101 k8s-w1"], env=env, check=True, capture_output=True)
    assert f.read_text() == first and first.count("k8s-m") == 1
    subprocess.run(run + ["192.168.10.10 k8s-m"], env=env, check=True, capture_output=True)
    assert "k8s-w1" not in f.read_text() and f.read_text().startswith("127.0.0.1 localhost\n")


# -- the course's manifests -----------------------------------------------------------------------

MANIFESTS = sorted((VAGRANT / "manifests").glob("*.yaml"))


def test_manifests_are_there():
    assert {m.name for m in MANIFESTS} >= {"node3-pod3.yaml", "pod3-traefik.yaml", "node1-pod2.yaml",
                                           "bgppeer-router.yaml"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_objects_fit_the_lab(path):
    objs = load_manifest(path)
    assert objs
    nodes = {n.name for n in TOPO.nodes}
    for o in objs:
        if o["kind"] == "Pod" and o["metadata"].get("namespace") != "calico-monitoring":  # those are scheduled
            assert o["spec"]["nodeName"] in nodes
            assert o["spec"]["terminationGracePeriodSeconds"] == 0
        elif o["kind"] == "BGPPeer":
            assert ipaddress.ip_address(o["spec"]["peerIP"]) in [i.ip for _, i in TOPO.router.interfaces.values()]
            assert o["spec"]["asNumber"] == TOPO.router.as_number


def test_webpods_as_in_the_course():
    pods = {o["metadata"]["name"]: o for o in load_manifest(VAGRANT / "manifests" / "pod3-traefik.yaml")}
    assert {n: p["spec"]["nodeName"] for n, p in pods.items()} == {"webpod1": "k8s-w1", "webpod2": "k8s-w2",
                                                                  "webpod3": "k8s-w0"}
    assert all(p["spec"]["containers"][0]["image"] == "traefik/whoami" for p in pods.values())


def test_profile_snippet_is_plain_sh():
    """/etc/profile.d/kanslab.sh (written by control.sh) must parse in dash, which may read /etc/profile."""
    dash = need_tool("dash")
    text = (VAGRANT / "provision" / "control.sh").read_text()
    snippet = text.split("<<'PROFILE'\n", 1)[1].split("\nPROFILE\n", 1)[0]
    p = subprocess.run([dash, "-n"], input=snippet, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


# -- the first `vagrant up` on a student's laptop -------------------------------------------------

def _hostonly(version: str | None, host_os: str, conf: str | None) -> str | None:
    """hostonly_networks_problem() of the Vagrantfile, evaluated by Ruby with the lab's subnets."""
    script = ("module Vagrant; def self.configure(v); end; end\n"
              "load ARGV.shift\n"
              "require 'json'\n"
              "v, os, conf = JSON.parse(STDIN.read)\n"
              "puts JSON.generate(hostonly_networks_problem(v, os, conf, SUBNETS.values))\n")
    p = subprocess.run([_need("ruby"), "-e", script, str(VAGRANT / "Vagrantfile")], capture_output=True, text=True,
                       input=json.dumps([version, host_os, conf]))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_hostonly_networks_outside_virtualboxs_default_range_fail_early_with_the_fix():
    msg = _hostonly("7.0.14r161095", "linux-gnu", None)
    assert "/etc/vbox/networks.conf" in msg and "\n* 192.168.10.0/24 192.168.20.0/24\n" in msg
    assert "192.168.20.0/24" in _hostonly("6.1.28", "darwin23", "* 192.168.10.0/24\n")
    # allowed: the line from the message, a wider range, an older VirtualBox, a Windows host, no VirtualBox
    assert _hostonly("7.0.14", "darwin23", "* 192.168.10.0/24 192.168.20.0/24\n") is None
    assert _hostonly("7.1.4", "linux-gnu", "# comment\n* 10.0.0.0/8 192.168.0.0/16\n") is None
    assert _hostonly("6.1.26r145957", "linux-gnu", None) is None
    assert _hostonly("7.0.14", "mingw32", None) is None
    assert _hostonly(None, "linux-gnu", None) is None


def test_vagrant_up_stops_before_creating_anything_when_virtualbox_would_refuse_the_networks(tmp_path):
    """`vagrant up` (ARGV) with a VirtualBox 7 that has no networks.conf: the Vagrantfile aborts."""
    if Path("/etc/vbox/networks.conf").exists():
        pytest.fail("this machine has /etc/vbox/networks.conf: the test needs a host without it")
    (tmp_path / "VBoxManage").write_text("#!/bin/sh\necho 7.0.14r161095\n")
    (tmp_path / "VBoxManage").chmod(0o755)
    script = "module Vagrant; def self.configure(v); end; end\nvf = ARGV.shift\nARGV.replace(['up'])\nload vf\n"
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    p = subprocess.run([_need("ruby"), "-e", script, str(VAGRANT / "Vagrantfile")], capture_output=True, text=True,
                       env=env)
    assert p.returncode == 1 and "* 192.168.10.0/24 192.168.20.0/24" in p.stderr, p.stderr
    p = subprocess.run([_need("ruby"), "-e", script.replace("'up'", "'status'"), str(VAGRANT / "Vagrantfile")],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr  # only up/reload create networks


def test_apt_waits_for_the_lock_everywhere():
    for s in SCRIPTS:
        for line in s.read_text().splitlines():
            code = line.split("#", 1)[0]
            if re.search(r"(^|[;&|]|\bthen|\bdo)\s*apt-get\b", code):  # apt-get run as a command
                pytest.fail(f"{s.name}: apt-get without the lock timeout: {line.strip()}")
        if "${APT[@]}" in s.read_text():
            assert "APT=(apt-get -o DPkg::Lock::Timeout=600)" in s.read_text(), s.name


def test_containerd_is_pinned_and_its_cgroup_driver_verified():
    text = (VAGRANT / "provision" / "common.sh").read_text()
    assert 'CONTAINERD_VERSION="1.7.*"' in text and 'containerd.io=${CONTAINERD_VERSION}' in text
    assert "apt-mark hold kubelet kubeadm kubectl containerd.io" in text
    # restarted only when the file changed; verified on the running CRI
    assert "if write_if_changed /etc/containerd/config.toml" in text
    assert text.count("systemctl restart containerd") == 1
    assert "\"SystemdCgroup\": true" in text


def test_every_node_is_waited_for_with_bounded_waits():
    ms = _machines()
    ready = {n: _prov(m, "ready") for n, m in ms.items() if n != "router"}
    for n, r in ready.items():
        assert r["path"] == "provision/ready.sh"
        assert [p.get("name") for p in ms[n]["provision"]][-1] == "ready", n  # the node's last step
    assert ready["k8s-m"]["args"] == ["/etc/kubernetes/admin.conf", "300", "k8s-m", "--registered"]
    last = list(ms)[-1]
    assert ready[last]["args"] == ["/etc/kubernetes/kubelet.conf", "600", "k8s-m", "k8s-w0", "k8s-w1", "k8s-w2"]
    assert ready["k8s-w0"]["args"] == ["/etc/kubernetes/kubelet.conf", "300", "k8s-w0"]
    assert "--timeout=600s" not in (VAGRANT / "provision" / "calico.sh").read_text()  # no 10-minute rollout


def test_ready_names_a_node_that_never_comes(tmp_path):
    """ready.sh against a fake kubectl: a registered node whose kubelet stopped reporting is named
    within the grace period, and a node that never registers fails at the bound, not later."""
    fake = tmp_path / "kubectl"
    fake.write_text("""#!/usr/bin/env bash
case "$*" in
  "get node/k8s-m -o jsonpath"*) echo True ;;
  "get node/k8s-w1 -o jsonpath"*) echo Unknown ;;
  "get node/k8s-w9 -o jsonpath"*) echo 'Error from server (NotFound): nodes "k8s-w9" not found' >&2; exit 1 ;;
  "-n kube-system get pods -l k8s-app=calico-node --field-selector spec.nodeName=k8s-m -o name")
    echo pod/calico-node-abcde ;;
  "-n kube-system wait --for=condition=Ready pod/calico-node-abcde"*) echo "pod/calico-node-abcde condition met" ;;
  "wait --for=condition=Ready node/k8s-w1"*) sleep 1; exit 1 ;;
  get\\ nodes*|*"get pods"*) echo "(listing)" ;;
  *) echo "unexpected kubectl $*" >&2; exit 99 ;;
esac
""")
    fake.chmod(0o755)
    script = (VAGRANT / "provision" / "ready.sh").read_text().replace("UNKNOWN_GRACE=60", "UNKNOWN_GRACE=2")
    (tmp_path / "ready.sh").write_text(script)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    run = ["bash", str(tmp_path / "ready.sh"), "/dev/null"]
    p = subprocess.run(run + ["30", "k8s-m"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and "node k8s-m Ready, calico-node Ready on it" in p.stdout, p.stderr
    p = subprocess.run(run + ["300", "k8s-m", "k8s-w1"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 1 and "node k8s-w1 is NotReady" in p.stderr and "vagrant up k8s-w1" in p.stderr, p.stderr
    p = subprocess.run(run + ["3", "k8s-w9"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 1 and "node k8s-w9 has not joined the cluster in 3s" in p.stderr, p.stderr
