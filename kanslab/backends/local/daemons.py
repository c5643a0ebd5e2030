"""Start the real routing daemons inside the lab: FRR on the router, BIRD 1.6 on each node."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import time
from pathlib import Path

from ...errors import LabError
from .mntns import enter_argv, files_dir
from .names import Names
from .netns import run
from .record import Record

FRR_DIR = Path("/usr/lib/frr")


def start_frr(names: Names, rec: Record, router: str, router_ns: str, frr_conf: str) -> None:
    """zebra + bgpd + staticd in the router's namespaces (network, mount, UTS: FRR's `hostname` is the
    router's). /etc/frr and /var/run/frr there are the state dir's (mntns.host_script), and a pathspace
    keeps FRR's files apart all the same."""
    space = names.frr_pathspace()
    files = files_dir(names, router)
    etc, var = files / "etc-frr" / space, files / "run-frr" / space
    etc.mkdir(parents=True, exist_ok=True)
    var.mkdir(parents=True, exist_ok=True)
    (etc / "frr.conf").write_text(frr_conf)
    (etc / "vtysh.conf").write_text("service integrated-vtysh-config\n")
    try:
        frr = pwd.getpwnam("frr")
        for p in (etc.parent, var.parent, etc, var, etc / "frr.conf", etc / "vtysh.conf"):
            os.chown(p, frr.pw_uid, frr.pw_gid)
    except KeyError:
        raise LabError("FRR is not installed (no user 'frr'): apt-get install frr") from None
    enter = enter_argv(names, router, router_ns)
    for daemon in ("zebra", "bgpd", "staticd"):
        pidfile = var / f"{daemon}.pid"
        rec.add("pidfile", path=str(pidfile), match=daemon)
        # -P 0: no TCP vty port; -A: nothing listens beyond the namespace's own loopback
        run([*enter, str(FRR_DIR / daemon), "-d", "-N", space, "-F", "traditional",
             "-P", "0", "-A", "127.0.0.1", "-i", f"/var/run/frr/{space}/{daemon}.pid"], host="router")
    # integrated config: daemons start empty and `vtysh -b` pushes frr.conf, as frrinit.sh does
    run([*enter, "vtysh", "-N", space, "-b"], host="router")


def start_bird(names: Names, rec: Record, host: str, node_ns: str, timeout: float = 10.0) -> None:
    """BIRD as calico-node's runit service runs it (`bird -R -s /var/run/calico/bird.ctl -d -c bird.cfg`,
    its stderr to svlogd): in the foreground with `-d`, logging to stderr, here the node's bird.log.
    Daemonized without `-d`, BIRD logs to syslog, and with no syslog daemon glibc's LOG_CONS writes
    every line to /dev/console: a mesh of 100 nodes spent most of BIRD's CPU on the serial console.
    (`-R`, graceful-restart recovery at start, is left out: the lab's BIRDs start fresh.)"""
    d = names.host_dir(host)
    pidfile, ctl, log = d / "bird.pid", names.bird_ctl(host), d / "bird.log"
    rec.add("pidfile", path=str(pidfile), match="bird")
    pidfile.unlink(missing_ok=True)
    bird = shlex.join(["bird", "-d", "-c", str(d / "bird.cfg"), "-s", str(ctl), "-P", str(pidfile)])
    # started in the background by a shell that exits at once: BIRD is nobody's child to reap
    run([*enter_argv(names, host, node_ns), "sh", "-c", f"{bird} </dev/null >>{shlex.quote(str(log))} 2>&1 &"],
        host=host)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:   # ready once its control socket answers, as after daemonizing
        if _bird_greets(str(ctl)):
            return
        time.sleep(0.02)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise LabError(f"BIRD did not start on {host} within {timeout:g} s:\n{tail}")


def pid_alive(pidfile: Path) -> bool:
    """Whether the process a pidfile names is running."""
    try:
        os.kill(int(pidfile.read_text().split()[0]), 0)
        return True
    except (OSError, ValueError, IndexError):
        return False


def _bird_greets(ctl_path: str) -> bool:
    """Whether a BIRD answers on its control socket (its `0001 BIRD ... ready.` greeting)."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(ctl_path)
            return s.recv(64).startswith(b"0001 ")
    except OSError:
        return False


def bird_configure(names: Names, host: str, timeout: float = 10.0) -> str:
    """`birdc configure` over BIRD's control socket, without a birdc process (a lab of 100 nodes
    reconfigures 100 BIRDs at once when a BGPPeer or the mesh setting changes). Raises LabError on
    BIRD's error replies (codes 8xxx and 9xxx), as birdc prints them."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(names.bird_ctl(host)))
        buf = b""
        while b"\n" not in buf:          # the `0001 BIRD ... ready.` greeting
            chunk = s.recv(4096)
            if not chunk:
                raise LabError(f"BIRD on {host} closed its control socket")
            buf += chunk
        s.sendall(b"configure\n")
        reply = b""
        # a reply ends with a line whose 4-digit code is followed by a space ("0003 Reconfigured")
        while not any(len(ln) > 4 and ln[:4].isdigit() and ln[4:5] == b" " for ln in reply.split(b"\n")):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    text = reply.decode(errors="replace")
    if any(ln[:1] in ("8", "9") and ln[:4].isdigit() for ln in text.splitlines()):
        raise LabError(f"birdc configure on {host}: {text.strip()}")
    return text


def birdc(names: Names, host: str, command: str, check: bool = True) -> str:
    p = run(["birdc", "-s", str(names.bird_ctl(host)), *command.split()], host=host, check=check, timeout=10)
    return p.stdout


def tools_missing() -> list[str]:
    need = {"ip": "iproute2", "bird": "bird", "birdc": "bird", "tcpdump": "tcpdump", "iptables": "iptables",
            "vtysh": "frr", "ipset": "ipset", "dnsmasq": "dnsmasq-base", "nsenter": "util-linux",
            "unshare": "util-linux"}
    missing = [pkg for tool, pkg in need.items() if shutil.which(tool) is None]
    if not (FRR_DIR / "zebra").exists():
        missing.append("frr")
    return sorted(set(missing))


def bird_socket_query(ctl_path: str, command: str, timeout: float = 2.0) -> str:
    """Ask BIRD over its control socket, as calicoctl does: the raw reply, reply codes included."""
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(ctl_path)
    buf = b""
    with s:
        while b"\n" not in buf:          # the `0001 BIRD ... ready.` greeting
            buf += s.recv(4096)
        s.sendall(command.encode() + b"\n")
        reply = b""
        while not any(ln.startswith(b"0000") or ln[:1] in (b"8", b"9") for ln in reply.split(b"\n")):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return (buf + reply).decode(errors="replace")
