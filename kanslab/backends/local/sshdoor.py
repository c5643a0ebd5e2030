"""The lab's only door from the host: one loopback port per lab host, like Vagrant's forwarded SSH ports.

`up` (as root) makes a per-lab host key and a per-lab user key. The agent listens on
127.0.0.1:<port> for each lab host and hands every connection to `sshd -i` started inside that
host's namespace, so a session lands on the host as `vagrant ssh` would, and nothing listens
in the root namespace but loopback. The user key is readable only by the user who brought the
lab up (SUDO_USER): whoever holds it is root inside the lab's namespaces, and therefore root on
this machine (namespaces share its filesystem). README says so.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import threading
from pathlib import Path

from ...topology import Topology
from .mntns import enter_argv
from .names import Names
from .network import host_env

SSHD = "/usr/sbin/sshd"


def ssh_dir(names: Names) -> Path:
    return names.dir / "ssh"


def free_loopback_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _owner() -> tuple[int, int]:
    """The user who brought the lab up: SUDO_USER when run through sudo, else ourselves."""
    user = os.environ.get("SUDO_USER")
    if user:
        try:
            pw = pwd.getpwnam(user)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
    return os.getuid(), os.getgid()


def prepare(names: Names, topo: Topology) -> dict[str, int]:
    """Keys, sshd configs, login scripts and the ssh-config file (Vagrant's format). Returns host->port."""
    d = ssh_dir(names)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(names.dir, 0o755)
    os.chmod(d, 0o755)
    for key in ("host_key", "id_ed25519"):
        if not (d / key).exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"kanslab-{names.prefix}",
                            "-f", str(d / key)], check=True)
    (d / "authorized_keys").write_text((d / "id_ed25519.pub").read_text())
    uid, gid = _owner()
    os.chown(d / "id_ed25519", uid, gid)
    os.chmod(d / "id_ed25519", 0o600)
    host_pub = (d / "host_key.pub").read_text().split()[:2]
    ports = dict(zip(topo.hosts, free_loopback_ports(len(topo.hosts)), strict=True))
    known, cfg = [], []
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    for host, port in ports.items():
        hd = names.host_dir(host)
        hd.mkdir(parents=True, exist_ok=True)
        env = host_env(names, host)
        (hd / "bashrc").write_text(f"PS1='root@{host}:\\w# '\ncd\n")
        login = hd / "login"
        login.write_text(
            "#!/bin/bash\n# ForceCommand: a shell (or the command) on this lab host, with its tools on PATH\n"
            f"export PATH='{env['PATH']}' KANSLAB_HOST='{host}' PYTHONPATH='{env['PYTHONPATH']}'\n"
            'case "$SSH_ORIGINAL_COMMAND" in internal-sftp|*sftp-server) exec /usr/lib/openssh/sftp-server ;; esac\n'
            'if [ -n "$SSH_ORIGINAL_COMMAND" ]; then exec bash -c "$SSH_ORIGINAL_COMMAND"; fi\n'
            f"exec bash --rcfile '{hd / 'bashrc'}' -i\n")
        os.chmod(login, 0o755)
        (hd / "sshd_config").write_text(
            f"HostKey {d / 'host_key'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nPidFile none\nPrintMotd no\nPrintLastLog no\nAcceptEnv LANG LC_*\n"
            # bash started by sshd reads ~/.bashrc unless SHLVL is already set; the machine's root
            # .bashrc (pyenv, conda) must not cost every lab command hundreds of milliseconds
            "SetEnv SHLVL=1\n"
            f"ForceCommand {login}\nSubsystem sftp internal-sftp\n")
        known.append(f"[127.0.0.1]:{port} {' '.join(host_pub)}")
        cfg.append(f"Host {host}\n  HostName 127.0.0.1\n  User root\n  Port {port}\n"
                   f"  UserKnownHostsFile {d / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
                   "  PasswordAuthentication no\n"
                   f"  IdentityFile {d / 'id_ed25519'}\n  IdentitiesOnly yes\n  LogLevel FATAL\n")
    (d / "known_hosts").write_text("\n".join(known) + "\n")
    (names.dir / "ssh_config").write_text("\n".join(cfg))
    (d / "ports").write_text("\n".join(f"{h} {p}" for h, p in ports.items()) + "\n")
    return ports


def read_ports(names: Names) -> dict[str, int]:
    out = {}
    for line in (ssh_dir(names) / "ports").read_text().splitlines():
        host, port = line.split()
        out[host] = int(port)
    return out


class Door(threading.Thread):
    """Accept on 127.0.0.1:port (root namespace) and serve each connection with `sshd -i` in the host's namespace."""

    def __init__(self, names: Names, host: str, port: int, stop: threading.Event):
        super().__init__(daemon=True, name=f"ssh-{host}")
        self.names, self.host, self.port, self.stop = names, host, port, stop
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(1.0)

    def run(self) -> None:
        cfg = self.names.host_dir(self.host) / "sshd_config"
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(None)
            try:
                enter = enter_argv(self.names, self.host, self.names.host(self.host))
                p = subprocess.Popen([*enter, SSHD, "-i", "-f", str(cfg)],
                                     stdin=conn.fileno(), stdout=conn.fileno(), stderr=subprocess.DEVNULL,
                                     close_fds=True)
                threading.Thread(target=p.wait, daemon=True).start()  # reap it when the session ends
            finally:
                conn.close()
