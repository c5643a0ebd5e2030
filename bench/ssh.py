"""200 commands over kanslab's kept SSH connection vs 200 `ssh` process invocations, same sshd.

A local OpenSSH server on loopback stands for a VM (tests/ssh/servers.py; root needed, as sshd
must run as root to open sessions). Both sides run the same command through the same server
with the same ssh-config (Vagrant's format), so the difference is what a notebook cell pays:
a channel on a kept connection against a process start, a TCP and SSH handshake and a key
exchange per command. Target (issue 6): ratio >= 10x. Prints, asserts nothing.

Note: the test servers start sessions at shell level 1 (`SetEnv SHLVL=1`) so that Debian's bash
does not read this machine's ~/.bashrc per session (root's pyenv init costs ~0.15-0.4 s here and
would be paid by both columns alike; a lab VM's .bashrc costs milliseconds). `--with-bashrc`
measures with it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kanslab.backends.ssh import SSHPool, read_ssh_config  # noqa: E402
from tests.ssh.servers import Cluster, why_not_runnable  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200, help="commands per side (default 200)")
    ap.add_argument("--cmd", default="true", help="the command (default: true)")
    ap.add_argument("--with-bashrc", action="store_true", help="let bash read ~/.bashrc per session")
    args = ap.parse_args()
    reason = why_not_runnable()
    if reason:
        sys.exit(f"bench/ssh.py: {reason}")
    with tempfile.TemporaryDirectory(prefix="kanslab-bench-ssh-") as d:
        cluster = Cluster(Path(d), ["k8s-w1"])
        if args.with_bashrc:
            s = cluster["k8s-w1"]
            s.config.write_text(s.config.read_text().replace("SetEnv SHLVL=1\n", ""))
        cluster.start()
        try:
            cfg = cluster.ssh_config
            # kept connection: connect once (not timed: a notebook connects once per session)
            pool = SSHPool(read_ssh_config(cfg))
            t = time.monotonic()
            pool.sh("k8s-w1", args.cmd, check=False)
            first = time.monotonic() - t
            t = time.monotonic()
            for _ in range(args.n):
                pool.run("k8s-w1", args.cmd)
            kept = time.monotonic() - t
            pool.close()
            # one ssh process per command
            argv = ["ssh", "-F", str(cfg), "-o", "BatchMode=yes", "k8s-w1", args.cmd]
            t = time.monotonic()
            for _ in range(args.n):
                subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False)
            procs = time.monotonic() - t
        finally:
            cluster.stop()
    n = args.n
    print(f"{n} x `{args.cmd}` on one local sshd ({'with' if args.with_bashrc else 'without'} ~/.bashrc per session)")
    print(f"  kept paramiko connection : {kept:7.2f} s  ({kept / n * 1000:6.1f} ms/command; "
          f"first command incl. connect {first * 1000:.0f} ms)")
    print(f"  ssh process per command  : {procs:7.2f} s  ({procs / n * 1000:6.1f} ms/command)")
    print(f"  ratio                    : {procs / kept:7.1f}x   (target >= 10x)")


if __name__ == "__main__":
    main()
