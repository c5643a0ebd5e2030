"""SSH hardening against real sshd servers: trust on first use, key types, logins, dead connections, secrets."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import traceback
from pathlib import Path

import pytest

from kanslab import CommandError
from kanslab.backends.ssh import (
    AuthenticationDisconnect,
    AuthenticationFailed,
    HostKeyRefused,
    SSHError,
    SSHPool,
    read_ssh_config,
)
from kanslab.backends.vagrant.inventory import read_hosts_yaml

from .conftest import _need_sshd
from .servers import SSHServer, descendants, keygen, kill_quietly


def _hosts_yaml(tmp_path: Path, server: SSHServer, key: Path, **extra) -> Path:
    y = tmp_path / "hosts.yaml"
    y.write_text(json.dumps({"defaults": {"user": "root", "identity_file": str(key), **extra},
                             "hosts": {server.name: {"host": "127.0.0.1", "port": server.port}}}))
    return y


def _new_host_key(server: SSHServer) -> None:
    server.stop()
    server.host_key.unlink()
    Path(f"{server.host_key}.pub").unlink()
    keygen(server.host_key, "ed25519", "rebuilt")
    server.start()


# -- trust on first use ---------------------------------------------------------------------------

def test_hosts_yaml_without_known_hosts_records_the_key_and_refuses_a_changed_one(lone, tmp_path,
                                                                                 kanslab_known_hosts):
    server = lone["k8s-w1"]
    y = _hosts_yaml(tmp_path, server, lone.client_key)
    assert not kanslab_known_hosts.exists()
    with SSHPool(read_hosts_yaml(y)) as p:
        assert p.sh("k8s-w1", "echo first") == "first\n"
    recorded = kanslab_known_hosts.read_text()
    assert recorded == f"[127.0.0.1]:{server.port} {server.host_pubkey}\n"
    with SSHPool(read_hosts_yaml(y)) as p:  # a later session: the recorded key matches
        assert p.sh("k8s-w1", "echo again") == "again\n"
    assert kanslab_known_hosts.read_text() == recorded
    _new_host_key(server)  # the host now shows another key (rebuilt, or someone in between)
    with SSHPool(read_hosts_yaml(y)) as p:
        with pytest.raises(HostKeyRefused) as ei:
            p.sh("k8s-w1", "true")
    msg = str(ei.value)
    assert "does not match" in msg and str(kanslab_known_hosts) in msg and "ssh-keygen -R" in msg
    assert kanslab_known_hosts.read_text() == recorded  # the new key was not recorded
    # the user's explicit choice still works: no checking at all
    y = _hosts_yaml(tmp_path, server, lone.client_key, strict_host_key_checking=False)
    with SSHPool(read_hosts_yaml(y)) as p:
        assert p.sh("k8s-w1", "echo unchecked") == "unchecked\n"


# -- key types ----------------------------------------------------------------------------------

@pytest.fixture
def two_key_server(tmp_path):
    """A server with ed25519, ecdsa and RSA host keys (ed25519 is what a client gets by default)."""
    _need_sshd()
    key = keygen(tmp_path / "private_key")
    s = SSHServer(tmp_path, "k8s-m", (tmp_path / "private_key.pub").read_text())
    extra = {kind: keygen(s.dir / f"host_{kind}", kind, "host-extra") for kind in ("ecdsa", "rsa")}
    s.config.write_text(s.config.read_text().replace(
        f"HostKey {s.host_key}\n", f"HostKey {s.host_key}\n" + "".join(f"HostKey {k}\n" for k in extra.values())))
    s.start()
    try:
        yield s, key, {k: " ".join(Path(f"{p}.pub").read_text().split()[:2]) for k, p in extra.items()}
    finally:
        s.stop()


@pytest.mark.parametrize("kind", ["ecdsa", "rsa", "ed25519"])
def test_a_host_recorded_by_one_key_type_is_accepted(two_key_server, tmp_path, kind):
    server, key, pubs = two_key_server
    pub = pubs.get(kind) or server.host_pubkey
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{server.port} {pub}\n")
    cfg = tmp_path / "cfg"
    cfg.write_text(server.ssh_config_block(key, strict="yes", known_hosts=str(kh)))
    with SSHPool(read_ssh_config(cfg)) as p:
        assert p.sh("k8s-m", "echo ok") == "ok\n"
        assert p.host("k8s-m").transport().get_remote_server_key().get_name() == pub.split()[0]


# -- keys and logins ----------------------------------------------------------------------------

def test_an_unusable_identity_file_does_not_stop_the_others(lone, tmp_path):
    server = lone["k8s-w1"]
    garbage = tmp_path / "garbage_key"
    garbage.write_text("not a key\n")
    locked = tmp_path / "locked_key"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(locked)], check=True)
    cfg = tmp_path / "cfg"
    cfg.write_text(server.ssh_config_block(garbage).replace(
        f'IdentityFile "{garbage}"', f'IdentityFile "{garbage}"\n  IdentityFile {locked}\n'
                                     f'  IdentityFile {lone.client_key}'))
    with SSHPool(read_ssh_config(cfg)) as p:
        assert p.sh("k8s-w1", "echo in") == "in\n"
    # when no key works, the error says why each file was not usable
    cfg.write_text(server.ssh_config_block(garbage).replace(
        f'IdentityFile "{garbage}"', f'IdentityFile "{garbage}"\n  IdentityFile {locked}'))
    with SSHPool(read_ssh_config(cfg)) as p:
        with pytest.raises(AuthenticationFailed) as ei:
            p.sh("k8s-w1", "true")
    assert f"cannot use identity file {garbage}" in str(ei.value)
    assert f"{locked} is passphrase-protected" in str(ei.value)


def test_a_disconnect_during_login_is_reported_as_such(tmp_path):
    """sshd hangs up after MaxAuthTries refused keys (the classic agent-with-many-keys failure)."""
    _need_sshd()
    key = keygen(tmp_path / "private_key")
    s = SSHServer(tmp_path, "k8s-w2", (tmp_path / "private_key.pub").read_text(), extra_config="MaxAuthTries 2\n")
    strangers = [keygen(tmp_path / f"stranger{i}") for i in range(4)]
    cfg = tmp_path / "cfg"
    cfg.write_text(s.ssh_config_block(strangers[0]).replace(
        f'IdentityFile "{strangers[0]}"', "\n  ".join(f"IdentityFile {k}" for k in strangers + [key])))
    s.start()
    try:
        t0 = time.monotonic()
        with SSHPool(read_ssh_config(cfg), connect_timeout=5) as p:
            with pytest.raises(AuthenticationDisconnect) as ei:
                p.sh("k8s-w2", "true")
        assert time.monotonic() - t0 < 5  # reported at once, not retried until a timeout
        assert "closed the connection during login" in str(ei.value) and "MaxAuthTries" in str(ei.value)
    finally:
        s.stop()


# -- dead connections ---------------------------------------------------------------------------

def test_a_connection_that_stops_answering_fails_the_running_command_soon(lone):
    """The host froze mid-command (no FIN, no RST): found by a keepalive, not by the command's timeout."""
    server = lone["k8s-w1"]
    pool = SSHPool(read_ssh_config(lone.ssh_config), connect_timeout=2, reconnect_timeout=10, keepalive=1)
    frozen: list[int] = []
    outcome: dict = {}

    def run():
        t0 = time.monotonic()
        try:
            pool.sh("k8s-w1", "echo started; sleep 3091", timeout=120)
        except Exception as e:  # noqa: BLE001 - inspected below
            outcome["error"] = e
        outcome["elapsed"] = time.monotonic() - t0
    try:
        pool.sh("k8s-w1", "true")
        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 10
        while not any("sleep 3091" in _cmdline(p) for p in descendants(server.proc.pid)):
            assert time.monotonic() < deadline, "the command did not start"
            time.sleep(0.05)
        frozen += descendants(server.proc.pid)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        worker.join(30)
        assert not worker.is_alive()
        assert isinstance(outcome.get("error"), SSHError), outcome
        assert "stopped answering" in str(outcome["error"]) and outcome["elapsed"] < 15
        assert pool.sh("k8s-w1", "echo reconnected") == "reconnected\n"
    finally:
        pool.close()
        kill_quietly(frozen)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# -- secrets ------------------------------------------------------------------------------------

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Q0VSVElGSUNBVEUtUFVCTElD
    server: https://192.168.10.10:6443
  name: kubernetes
users:
- name: kubernetes-admin
  user:
    client-certificate-data: Q0xJRU5ULUNFUlQtUFVCTElD
    client-key-data: S0VZLURBVEEtU0VDUkVULTEyMzQ1
- name: robot
  user:
    token: eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2ln
- name: basic
  user:
    username: admin
    password: hunter2-secret-pw
"""
SECRETS = ["S0VZLURBVEEtU0VDUkVULTEyMzQ1", "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2ln", "hunter2-secret-pw",
           "t0ken-on-the-command-line", "bearer-in-a-header"]


def test_kubeconfig_secrets_never_appear_in_errors_or_logs(pool, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    kc = tmp_path / "admin.conf"
    kc.write_text(KUBECONFIG)
    texts = []
    calls = [(f"cat {kc}; exit 1", 30),                            # a failing command that printed them
             (f"cat {kc} >&2; exit 2", 30),                        # ... on stderr
             (f"cat {kc}; sleep 3092", 1),                         # a timeout, with output so far
             ("kubectl --token t0ken-on-the-command-line get pods", 30),   # a secret in the command itself
             ("curl -H 'Authorization: Bearer bearer-in-a-header' http://127.0.0.1:1/; exit 7", 30)]
    for cmd, timeout in calls:
        with pytest.raises(CommandError) as ei:
            pool.sh("k8s-m", cmd, timeout=timeout)
        e = ei.value
        texts += [str(e), repr(e), e.cmd, e.stderr, e.stdout, "".join(traceback.format_exception(e))]
    texts.append(caplog.text)
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
    joined = "\n".join(texts)
    assert "client-key-data: [removed]" in joined and "token: [removed]" in joined
    assert "Q0xJRU5ULUNFUlQtUFVCTElD" in joined  # certificates are public and kept
    # a successful command's output is the user's data, untouched
    assert pool.sh("k8s-m", f"cat {kc}") == KUBECONFIG
