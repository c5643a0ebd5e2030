"""What this kernel and machine can do, found by trying it in a throwaway namespace."""

from __future__ import annotations

import os
import shutil
import subprocess

LINK_KINDS = {
    "veth": "type veth peer name p0",
    "bridge": "type bridge",
    "vxlan": "type vxlan id 42 dstport 4789",
    "ipip": "type ipip remote 192.0.2.1 local 192.0.2.2",
    "dummy": "type dummy",
}


def kernel_features() -> dict[str, bool]:
    """Try each link kind (and a TUN device) in a fresh namespace; needs root."""
    ns = f"kanslab-probe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        out = {}
        for kind, args in LINK_KINDS.items():
            p = subprocess.run(["ip", "-n", ns, "link", "add", f"t-{kind}", *args.split()], capture_output=True)
            out[kind] = p.returncode == 0
        p = subprocess.run(["ip", "-n", ns, "tuntap", "add", "dev", "t-tun", "mode", "tun"], capture_output=True)
        out["tun"] = p.returncode == 0
        return out
    finally:
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def daemon_versions() -> dict[str, str]:
    cmds = {"bird": ["bird", "--version"], "frr (zebra)": ["/usr/lib/frr/zebra", "--version"],
            "tcpdump": ["tcpdump", "--version"], "iptables": ["iptables", "--version"],
            "sshd": ["/usr/sbin/sshd", "-V"], "iproute2": ["ip", "-V"]}
    out = {}
    for name, argv in cmds.items():
        if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
            out[name] = "not installed"
            continue
        p = subprocess.run(argv, capture_output=True, text=True)
        text = (p.stdout + p.stderr).strip().splitlines()
        out[name] = text[0] if text else "installed"
    return out
