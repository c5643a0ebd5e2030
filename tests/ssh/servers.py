"""Real OpenSSH servers on loopback, standing for the lab's VMs (used by tests/ssh and bench/ssh.py).

Each server is `/usr/sbin/sshd -D -e -f <cfg> -p <port>` with its own host key in a temp
directory, ListenAddress 127.0.0.1 and one authorized client key. `stop()` kills the listener
and every process it spawned (per-connection sshd children call setsid, so they are found by
walking the process tree from the listener's pid, never by name)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def why_not_runnable() -> str | None:
    """None when real sshd servers can run here, else the reason (for pytest.skip)."""
    if os.geteuid() != 0:
        return ("the SSH tests start real sshd servers, which must run as root to open sessions "
                "(CI runs as root); run `sudo make test`")
    if not os.path.exists(SSHD):
        return f"{SSHD} is missing: apt-get install openssh-server (scripts/install.sh does)"
    return None


def keygen(path: Path, kind: str = "ed25519", comment: str = "kanslab-test") -> Path:
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]
    subprocess.run(args, check=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def descendants(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


class SSHServer:
    def __init__(self, root: Path, name: str, client_pubkey: str, host_key_type: str = "ed25519",
                 port: int | None = None, extra_config: str = "", env: dict[str, str] | None = None):
        self.name = name
        self.dir = root / f"sshd-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host_key = keygen(self.dir / f"host_{host_key_type}", host_key_type, f"host-{name}")
        (self.dir / "authorized_keys").write_text(client_pubkey)
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            f"ListenAddress 127.0.0.1\nHostKey {self.host_key}\nAuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nPidFile none\nPrintMotd no\nLogLevel ERROR\n"
            "MaxStartups 200\nMaxSessions 20\nSubsystem sftp internal-sftp\n"
            # Debian's bash reads ~/.bashrc when started by sshd at shell level 1; this machine's root
            # .bashrc (pyenv init) costs ~150 ms, which a lab VM's does not: start sessions at level 1
            "SetEnv SHLVL=1" + "".join(f" {k}={v}" for k, v in (env or {}).items()) + "\n" + extra_config)
        self.log = self.dir / "sshd.log"
        self.proc: subprocess.Popen | None = None

    @property
    def host_pubkey(self) -> str:
        return " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])

    def start(self, timeout: float = 10) -> SSHServer:
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege-separation directory
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config), "-p", str(self.port)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"), start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:  # wait for the state "answers with an SSH banner"
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd {self.name} exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd {self.name} did not answer on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the listener and every session it spawned (like the VM going away)."""
        p = self.proc
        if p is None:
            return
        self.proc = None
        if p.poll() is None:
            os.kill(p.pid, signal.SIGSTOP)  # no new children while we collect them
            for pid in descendants(p.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)

    def restart(self) -> SSHServer:
        self.stop()
        return self.start()

    def ssh_config_block(self, identity: Path, user: str = "root", strict: str = "no",
                         known_hosts: str = "/dev/null") -> str:
        """This server as `vagrant ssh-config` prints a machine."""
        return (f"Host {self.name}\n  HostName 127.0.0.1\n  User {user}\n  Port {self.port}\n"
                f"  UserKnownHostsFile {known_hosts}\n  StrictHostKeyChecking {strict}\n"
                f"  PasswordAuthentication no\n  IdentityFile \"{identity}\"\n  IdentitiesOnly yes\n"
                "  LogLevel FATAL\n  PubkeyAcceptedKeyTypes +ssh-rsa\n  HostKeyAlgorithms +ssh-rsa\n\n")


class Cluster:
    """Several servers and an ssh-config naming them, in Vagrant's format; `stop()` stops them all."""

    def __init__(self, root: Path, names: list[str], host_key_types: dict[str, str] | None = None,
                 env: dict[str, dict[str, str]] | None = None, user: str = "root"):
        self.root, self.user = root, user
        self.client_key = keygen(root / "private_key")
        pub = (root / "private_key.pub").read_text()
        types = host_key_types or {}
        self.servers = {n: SSHServer(root, n, pub, types.get(n, "ed25519"), env=(env or {}).get(n)) for n in names}
        self.ssh_config = root / "ssh_config"

    def start(self) -> Cluster:
        try:
            for s in self.servers.values():
                s.start()
        except BaseException:
            self.stop()
            raise
        self.ssh_config.write_text("".join(s.ssh_config_block(self.client_key, user=self.user)
                                           for s in self.servers.values()))
        return self

    def __enter__(self) -> Cluster:
        """`with Cluster(...) as c:` starts every server (start stops them again if one fails) and
        stops them all however the block ends."""
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        errors = []
        for s in self.servers.values():
            try:
                s.stop()
            except Exception as e:  # stop the others anyway
                errors.append(e)
        if errors:
            raise errors[0]

    def __getitem__(self, name: str) -> SSHServer:
        return self.servers[name]


def kill_quietly(pids) -> None:
    """SIGKILL each process that still exists (frozen sshd children a test left behind)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
