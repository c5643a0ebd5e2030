"""The lab's only door: loopback SSH per host, with a per-lab key (issue: Embedded lab, host access)."""

from __future__ import annotations

import os
import pwd
import subprocess

import pytest

import kanslab
from kanslab import parse
from kanslab.backends.local.sshdoor import read_ports, ssh_dir

pytestmark = pytest.mark.lab


@pytest.fixture
def via_ssh(lab, monkeypatch):
    """The same lab driven the way a non-root notebook kernel drives it: over the SSH door."""
    monkeypatch.setenv("KANSLAB_VIA_SSH", "1")
    return kanslab.connect("local", prefix=lab.backend.prefix)


def test_commands_over_the_door(via_ssh, web_pods):
    df = parse.calico_node_status(via_ssh.calicoctl("node status"))
    assert set(df[df.ip_version == 4]["info"]) == {"Established"}
    routes = parse.route_n(via_ssh.sh("k8s-w1", "route -n"))
    assert (routes.iface == "tunl0").sum() == 3
    out = via_ssh.exec("webpod1", f"curl -s --max-time 3 http://{web_pods['webpod2']}/")
    assert "Hostname: webpod2" in out
    with pytest.raises(kanslab.CommandError) as e:
        via_ssh.sh("k8s-w2", "exit 3")
    assert e.value.exit_status == 3 and e.value.host == "k8s-w2"


def test_kubectl_exec_into_whoami_fails_as_on_a_cluster_and_lab_exec_still_works(via_ssh, web_pods):
    """traefik/whoami holds one binary and no shell: `kubectl exec` cannot run ping there (containerd's
    error, exit 126); `lab.exec` then runs it with the node's tools in the pod's network namespace."""
    with pytest.raises(kanslab.CommandError) as e:
        via_ssh.kubectl(f"exec webpod1 -- ping -c 1 {web_pods['webpod2']}")
    assert e.value.exit_status == 126 and 'exec: "ping": executable file not found in $PATH' in e.value.stderr
    assert via_ssh.kubectl("exec webpod1 -- /whoami --help", check=False) is not None  # its own binary runs
    out = via_ssh.exec("webpod1", f"ping -c 1 -W 2 {web_pods['webpod2']}")
    assert parse.ping(out).packets_received.iloc[-1] == 1
    # inside webpod1's namespace, not the node's
    assert f"inet {web_pods['webpod1']}/32" in via_ssh.exec("webpod1", "ip -4 -o addr show eth0")
    with pytest.raises(kanslab.CommandError) as e:
        via_ssh.exec("webpod1", "exit 5")
    assert e.value.exit_status == 5 and e.value.host == "default/webpod1"


def test_capture_over_the_door(via_ssh, web_pods):
    with via_ssh.capture("router", bpf="ip proto 4", count=50, seconds=20) as cap:
        via_ssh.exec("webpod3", f"ping -c 2 -W 2 {web_pods['webpod1']}")
    assert set(cap.packets.encap) == {"ipip"} and len(cap.packets) >= 4


def test_door_listens_on_loopback_only_and_the_key_is_private(lab):
    ports = read_ports(lab.backend.names)
    assert set(ports) == set(lab.hosts)
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout.split("\n")
    for port in ports.values():
        local = [ln.split()[3] for ln in listening if ln.strip() and ln.split()[3].endswith(f":{port}")]
        assert local == [f"127.0.0.1:{port}"], local
    key = ssh_dir(lab.backend.names) / "id_ed25519"
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_a_plain_ssh_client_as_an_unprivileged_user(lab):
    """What a student's non-root kernel does: the real ssh client, the lab's ssh_config, its key."""
    key = ssh_dir(lab.backend.names) / "id_ed25519"
    owner = key.stat()
    nobody = pwd.getpwnam("nobody")
    os.chown(key, nobody.pw_uid, nobody.pw_gid)
    try:
        p = subprocess.run(["runuser", "-u", "nobody", "--", "ssh", "-F", str(lab.backend.names.dir / "ssh_config"),
                            "-o", "BatchMode=yes", "k8s-w1", "ip -br addr show enp0s8; birdcl show protocols"],
                           capture_output=True, text=True, timeout=30)
    finally:
        os.chown(key, owner.st_uid, owner.st_gid)
    assert p.returncode == 0, p.stderr
    assert "192.168.10.101/24" in p.stdout and "Mesh_192_168_10_102" in p.stdout


def test_the_library_as_an_unprivileged_user(lab, monkeypatch):
    """A student's non-root kernel: kanslab itself (the paramiko transport) drives the lab through the door.

    A forked child drops to `nobody` (this machine's venv is not readable by nobody, so a fresh
    interpreter could not start); the parent imports everything first, the child connects anew."""
    import json

    monkeypatch.setenv("KANSLAB_VIA_SSH", "1")
    warm = kanslab.connect("local", prefix=lab.backend.prefix)
    assert warm.sh("k8s-w1", "true") == ""
    warm.backend._door().close()
    key = ssh_dir(lab.backend.names) / "id_ed25519"
    owner = key.stat()
    nobody = pwd.getpwnam("nobody")
    os.chown(key, nobody.pw_uid, nobody.pw_gid)
    r, w = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            out = {}
            try:
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                monkeypatch.delenv("KANSLAB_VIA_SSH")  # not root: the door is the only way
                student = kanslab.connect("local", prefix=lab.backend.prefix)
                out["via_ssh"] = student.backend.via_ssh
                out["sh"] = student.sh("k8s-w1", "id -u; ip -br addr show enp0s8")
                try:
                    student.sh("k8s-w2", "exit 3")
                except kanslab.CommandError as e:
                    out["exit"] = e.exit_status
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                out["error"] = repr(e)
            os.write(w, json.dumps(out).encode())
            os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.waitpid(pid, 0)
    finally:
        os.chown(key, owner.st_uid, owner.st_gid)
        os.close(r)
    out = json.loads(data)
    assert "error" not in out, out["error"]
    assert out["via_ssh"] and out["exit"] == 3
    uid, addr = out["sh"].splitlines()
    assert uid == "0" and "192.168.10.101/24" in addr
