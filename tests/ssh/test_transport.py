"""The SSH transport against real sshd servers, driven through an ssh-config in Vagrant's format."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from pathlib import Path

import pytest

from kanslab import CommandError, NotFound
from kanslab.backends.ssh import AuthenticationFailed, HostKeyRefused, SSHError, SSHPool, read_ssh_config

from .servers import Cluster, SSHServer, kill_quietly


def _running(pid: int) -> bool:
    """Alive and not a zombie (False also when it vanishes while we read)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _procs_with_cmdline(text: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").strip()
            except OSError:
                continue
            if cmd == text.encode():
                out.append(int(d))
    return out


def _wait_until(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


# -- output, exit codes, stderr ------------------------------------------------------------------

def test_output_exit_status_and_stderr(pool, cluster):
    assert pool.sh("k8s-m", "echo hello; echo to-stderr >&2") == "hello\n"
    r = pool.run("router", "echo out; echo err >&2; exit 3")
    assert (r.stdout, r.stderr, r.exit_status) == ("out\n", "err\n", 3)
    with pytest.raises(CommandError) as ei:
        pool.sh("k8s-w1", "ls /nonexistent-kanslab")
    e = ei.value
    assert e.host == "k8s-w1" and e.cmd == "ls /nonexistent-kanslab" and e.exit_status == 2
    assert "No such file or directory" in e.stderr and "k8s-w1" in str(e)
    assert pool.sh("k8s-w1", "exit 5", check=False) == ""


def test_each_host_is_its_own_server(pool, cluster):
    # SSH_CONNECTION = client-ip client-port server-ip server-port
    for name in cluster.servers:
        assert pool.sh(name, "echo $SSH_CONNECTION").split()[3] == str(cluster[name].port)


def test_stdin_and_binary_safe_output(pool):
    manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: pod1}\n" * 2000  # ~100 KB, like `apply -f -`
    assert pool.sh("k8s-m", "cat", input=manifest) == manifest
    assert pool.sh("k8s-m", "wc -c", input=b"\x00\x01\xff") == "3\n"
    big = pool.sh("k8s-m", "head -c 3000000 /dev/zero | tr '\\0' x")
    assert len(big) == 3_000_000


def test_one_connection_is_kept_and_reused(pool):
    ports = {pool.sh("k8s-w2", "echo $SSH_CLIENT").split()[1] for _ in range(20)}
    assert len(ports) == 1  # the same TCP connection (same client port) for every command
    assert pool.host("k8s-w2").connects == 1


def test_unknown_host_name_is_refused(pool):
    with pytest.raises(NotFound, match="unknown host 'k8s-w9'"):
        pool.sh("k8s-w9", "true")


# -- timeouts ----------------------------------------------------------------------------------

def test_timeout_raises_and_kills_the_command(pool):
    t0 = time.monotonic()
    with pytest.raises(CommandError) as ei:
        pool.sh("k8s-m", "echo started; sleep 3071", timeout=1)
    assert time.monotonic() - t0 < 6
    e = ei.value
    assert e.exit_status == -1 and "timed out after 1 s" in e.stderr and e.stdout == "started\n"
    assert _wait_until(lambda: not _procs_with_cmdline("sleep 3071"), 5), "the timed-out command still runs"
    assert pool.sh("k8s-m", "echo still usable") == "still usable\n"


def test_timeout_kills_a_whole_pipeline(pool):
    with pytest.raises(CommandError):
        pool.sh("k8s-w1", "sleep 3072 | sleep 3073", timeout=1)
    assert _wait_until(lambda: not _procs_with_cmdline("sleep 3072") and not _procs_with_cmdline("sleep 3073"), 5)


# -- parallel fan-out ---------------------------------------------------------------------------

def test_fan_out_runs_on_every_host_at_once(pool, cluster):
    pool.connect_all()
    t0 = time.monotonic()
    out = pool.sh_all("sleep 1; echo $SSH_CONNECTION")
    elapsed = time.monotonic() - t0
    assert set(out) == set(cluster.servers)
    assert {h: v.split()[3] for h, v in out.items()} == {h: str(s.port) for h, s in cluster.servers.items()}
    assert elapsed < 3.5, f"4 hosts x 1 s took {elapsed:.1f} s: not parallel"


def test_fan_out_reports_each_hosts_failure(pool):
    res = pool.run_all("echo $SSH_CONNECTION | cut -d' ' -f4; exit 7", hosts=["k8s-m", "router"])
    assert {h: r.exit_status for h, r in res.items()} == {"k8s-m": 7, "router": 7}
    assert res["k8s-m"].stdout != res["router"].stdout
    with pytest.raises(CommandError) as ei:
        pool.sh_all("exit 4", hosts=["k8s-w1", "k8s-w2"])
    assert ei.value.exit_status == 4


def test_many_commands_on_one_host_in_parallel(pool):
    # more than the per-host session limit (8) at once: they queue instead of failing
    results = {}

    def one(i):
        results[i] = pool.sh("k8s-w2", f"sleep 0.3; echo {i}")
    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {i: f"{i}\n" for i in range(20)}
    assert pool.host("k8s-w2").connects == 1


# -- streaming ----------------------------------------------------------------------------------

def test_stream_delivers_lines_while_the_command_runs(pool):
    with pool.stream("router", "for i in 1 2 3; do echo line$i; sleep 0.3; done; echo ready >&2; sleep 3074") as p:
        first = next(p.lines(timeout=5))
        assert first == "line1" and p.running  # output arrives while the command still runs
        assert p.wait_for("ready", timeout=5)
        assert p.running and p.pid
        assert p.stdout == "line1\nline2\nline3\n"
    assert not p.running
    assert _wait_until(lambda: not _procs_with_cmdline("sleep 3074"), 5)


# -- restarts -----------------------------------------------------------------------------------

def test_reconnects_after_the_server_restarts(lone):
    pool = SSHPool(read_ssh_config(lone.ssh_config), reconnect_timeout=30)
    try:
        before = pool.sh("k8s-w1", "echo $SSH_CLIENT").split()[1]
        lone["k8s-w1"].restart()  # every session killed, a new sshd on the same port
        after = pool.sh("k8s-w1", "echo $SSH_CLIENT").split()[1]
        assert after != before and pool.host("k8s-w1").connects == 2
    finally:
        pool.close()


def test_waits_for_a_rebooting_host(lone):
    pool = SSHPool(read_ssh_config(lone.ssh_config), reconnect_timeout=30)
    server = lone["k8s-w1"]
    try:
        assert pool.sh("k8s-w1", "echo up") == "up\n"
        server.stop()
        threading.Timer(1.5, server.start).start()  # the "VM" is back 1.5 s later
        t0 = time.monotonic()
        assert pool.sh("k8s-w1", "echo back") == "back\n"
        assert time.monotonic() - t0 >= 1.0
    finally:
        _wait_until(lambda: server.proc is not None, 10)
        pool.close()


def test_a_silently_dead_connection_is_replaced(lone):
    """A VM that rebooted leaves no FIN behind: the old connection just stops answering."""
    import signal

    from .servers import descendants

    server = lone["k8s-w1"]
    pool = SSHPool(read_ssh_config(lone.ssh_config), connect_timeout=1.5, reconnect_timeout=10)
    frozen: list[int] = []
    try:
        before = pool.sh("k8s-w1", "echo $SSH_CLIENT").split()[1]
        frozen += descendants(server.proc.pid)  # the sshd serving our connection, not the listener
        assert frozen
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        after = pool.sh("k8s-w1", "echo $SSH_CLIENT").split()[1]
        assert after != before and time.monotonic() - t0 < 8
    finally:
        pool.close()
        kill_quietly(frozen)


def test_a_command_cut_by_the_server_dying_fails_clearly(lone):
    pool = SSHPool(read_ssh_config(lone.ssh_config), reconnect_timeout=30)
    server = lone["k8s-w1"]
    try:
        pool.sh("k8s-w1", "true")
        threading.Timer(0.5, server.stop).start()
        with pytest.raises((CommandError, SSHError)) as ei:
            pool.sh("k8s-w1", "sleep 30", timeout=20)
        assert "connection" in str(ei.value).lower() or getattr(ei.value, "exit_status", 0) == -1
        server.start()
        assert pool.sh("k8s-w1", "echo again") == "again\n"
    finally:
        pool.close()


def test_a_host_that_stays_down_fails_after_the_reconnect_timeout(lone):
    pool = SSHPool(read_ssh_config(lone.ssh_config), reconnect_timeout=1.5)
    try:
        pool.sh("k8s-w1", "true")
        lone["k8s-w1"].stop()
        t0 = time.monotonic()
        with pytest.raises(SSHError, match="cannot connect"):
            pool.sh("k8s-w1", "true")
        assert time.monotonic() - t0 < 6
    finally:
        pool.close()


# -- files --------------------------------------------------------------------------------------

def test_upload_and_download(pool, tmp_path):
    data = os.urandom(300_000)
    remote = str(tmp_path / "remote.bin")
    pool.upload("k8s-m", data, remote, mode=0o600)
    assert pool.sh("k8s-m", f"stat -c %a {remote}; sha256sum < {remote}").split()[:2] == \
        ["600", __import__("hashlib").sha256(data).hexdigest()]
    local = pool.download("k8s-m", remote, tmp_path / "back.bin")
    assert local.read_bytes() == data
    src = tmp_path / "manifest.yaml"
    src.write_text("kind: Pod\n")
    pool.upload("k8s-w1", src, str(tmp_path / "copied.yaml"))
    assert pool.sh("k8s-w1", f"cat {tmp_path / 'copied.yaml'}") == "kind: Pod\n"
    with pytest.raises(CommandError, match="No such file"):
        pool.download("k8s-w1", "/nonexistent/kanslab.pcap", tmp_path / "x")


def test_files_without_an_sftp_subsystem(tmp_path):
    """A server with no SFTP (like a host whose sshd forces a command): files go over cat."""
    from .servers import keygen, why_not_runnable

    if why_not_runnable():
        pytest.skip(why_not_runnable())
    key = keygen(tmp_path / "private_key")
    s = SSHServer(tmp_path, "k8s-w2", (tmp_path / "private_key.pub").read_text())
    s.config.write_text(s.config.read_text().replace("Subsystem sftp internal-sftp\n", ""))
    (tmp_path / "cfg").write_text(s.ssh_config_block(key))
    s.start()
    pool = SSHPool(read_ssh_config(tmp_path / "cfg"))
    try:
        data = os.urandom(70_000)
        pool.upload("k8s-w2", data, str(tmp_path / "f.bin"))
        assert pool.download("k8s-w2", str(tmp_path / "f.bin"), tmp_path / "g.bin").read_bytes() == data
        assert pool.host("k8s-w2").sftp() is None
    finally:
        pool.close()
        s.stop()


# -- sudo ---------------------------------------------------------------------------------------

def test_sudo_runs_as_root_with_roots_home(pool):
    if not os.path.exists("/usr/bin/sudo"):
        pytest.fail("sudo is not installed: `make test` installs it (scripts/install.sh)")
    assert pool.sh("k8s-m", "id -u; echo $HOME", sudo=True) == "0\n/root\n"
    with pytest.raises(CommandError) as ei:
        pool.sh("k8s-m", "exit 9", sudo=True)
    assert ei.value.exit_status == 9


# -- host keys ----------------------------------------------------------------------------------

def _config(tmp_path, server: SSHServer, key, strict: str, known: str) -> Path:
    p = tmp_path / f"cfg-{strict}"
    p.write_text(server.ssh_config_block(key, strict=strict, known_hosts=known))
    return p


def test_known_hosts_with_the_right_key_is_accepted(cluster, tmp_path):
    s = cluster["k8s-m"]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{s.port} {s.host_pubkey}\n")
    with SSHPool(read_ssh_config(_config(tmp_path, s, cluster.client_key, "yes", str(kh)))) as p:
        assert p.sh("k8s-m", "echo ok") == "ok\n"


def test_unknown_host_key_is_refused_under_strict_checking(cluster, tmp_path):
    s = cluster["k8s-m"]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{s.port + 1} {s.host_pubkey}\n")  # a key, but for another endpoint
    with SSHPool(read_ssh_config(_config(tmp_path, s, cluster.client_key, "yes", str(kh)))) as p:
        with pytest.raises(HostKeyRefused, match="unknown host key"):
            p.sh("k8s-m", "true")


def test_a_different_host_key_is_refused(cluster, tmp_path):
    s, other = cluster["k8s-m"], cluster["k8s-w1"]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{s.port} {other.host_pubkey}\n")  # recorded key is k8s-w1's
    for strict in ("yes", "no"):
        with SSHPool(read_ssh_config(_config(tmp_path, s, cluster.client_key, strict, str(kh)))) as p:
            with pytest.raises(HostKeyRefused, match="does not match"):
                p.sh("k8s-m", "true")


def test_default_strictness_refuses_an_unrecorded_host(cluster, tmp_path):
    s = cluster["k8s-m"]
    p = tmp_path / "cfg"
    p.write_text(f"Host k8s-m\n  HostName 127.0.0.1\n  Port {s.port}\n  User root\n"
                 f"  IdentityFile {cluster.client_key}\n  UserKnownHostsFile {tmp_path / 'empty'}\n")
    with SSHPool(read_ssh_config(p)) as pool:
        with pytest.raises(HostKeyRefused):
            pool.sh("k8s-m", "true")


def test_host_key_change_within_a_session_is_refused(lone, tmp_path):
    server = lone["k8s-w1"]
    pool = SSHPool(read_ssh_config(lone.ssh_config), reconnect_timeout=10)
    try:
        pool.sh("k8s-w1", "true")
        server.stop()
        from .servers import keygen

        server.host_key.unlink()
        Path(f"{server.host_key}.pub").unlink()
        keygen(server.host_key, "ed25519", "impostor")
        server.start()
        with pytest.raises(HostKeyRefused, match="changed since this session first connected"):
            pool.sh("k8s-w1", "true")
    finally:
        pool.close()


# -- private keys stay private ------------------------------------------------------------------

def _key_material(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln and "PRIVATE KEY" not in ln]


def test_private_key_never_appears_in_errors_or_logs(cluster, tmp_path, caplog):
    from .servers import keygen

    caplog.set_level(logging.DEBUG)
    stranger = keygen(tmp_path / "stranger")  # not in authorized_keys
    secret = _key_material(stranger) + _key_material(cluster.client_key)
    cfg = tmp_path / "cfg"
    cfg.write_text(cluster["k8s-m"].ssh_config_block(stranger))
    texts = []
    with SSHPool(read_ssh_config(cfg)) as p:
        with pytest.raises(AuthenticationFailed) as ei:
            p.sh("k8s-m", "true")
        texts += [str(ei.value), repr(ei.value), "".join(traceback.format_exception(ei.value))]
        assert "refused every key" in str(ei.value)
    with SSHPool(read_ssh_config(cluster.ssh_config)) as p:
        with pytest.raises(CommandError) as ei:  # a command that prints a key and fails
            p.sh("k8s-m", f"cat {cluster.client_key}; cat {stranger} >&2; exit 1")
        texts += [str(ei.value), repr(ei.value), ei.value.stderr, ei.value.stdout,
                  "".join(traceback.format_exception(ei.value))]
        assert "[private key removed]" in str(ei.value)
        texts.append(repr(p.host("k8s-m")))
    texts.append(caplog.text)
    for text in texts:
        for line in secret:
            assert line not in text


def test_an_unreadable_key_file_is_named_not_shown(cluster, tmp_path):
    bad = tmp_path / "bad_key"
    bad.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbCBidXQgc2VjcmV0\n"
                   "-----END OPENSSH PRIVATE KEY-----\n")
    cfg = tmp_path / "cfg"
    cfg.write_text(cluster["k8s-m"].ssh_config_block(bad))
    with SSHPool(read_ssh_config(cfg)) as p:
        with pytest.raises(AuthenticationFailed) as ei:
            p.sh("k8s-m", "true")
    assert str(bad) in str(ei.value)
    assert "bm90IGEga2V5IGF0IGFsbCBidXQgc2VjcmV0" not in "".join(traceback.format_exception(ei.value))


def test_servers_are_stopped_by_their_fixture(tmp_path):
    """The fixture's finalizer pattern: a failing body still stops every server."""
    from .servers import why_not_runnable

    if why_not_runnable():
        pytest.skip(why_not_runnable())
    c = Cluster(tmp_path, ["a", "b"])
    pids = []
    try:
        c.start()
        pids = [s.proc.pid for s in c.servers.values()]
        raise RuntimeError("a test failed here")
    except RuntimeError:
        pass
    finally:
        c.stop()
    assert pids and not [p for p in pids if _running(p)]
