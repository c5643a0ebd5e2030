"""Build the lab's wires: one namespace per host, one per subnet (a bridge), veths between.

Nothing is created in the host's root namespace: every `ip link add` names the target
namespaces of both veth ends, so the kernel creates them there directly.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...topology import Topology
from .names import Names
from .netns import ip_batch, run, sysctl
from .record import Record


def add_netns(rec: Record, name: str) -> None:
    rec.add("netns", name=name)  # recorded first: a crash right after still gets it deleted
    run(["ip", "netns", "add", name])
    ip_batch(name, ["link set lo up"])


NODE_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}


def build_network(names: Names, rec: Record, topo: Topology) -> None:
    for sub in topo.subnets:
        sw = names.switch(sub)
        add_netns(rec, sw)
        ip_batch(sw, ["link add br0 type bridge", "link set br0 up"])
        sysctl(sw, {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"})
    for host in topo.hosts:
        add_netns(rec, names.host(host))
        sysctl(names.host(host), NODE_SYSCTLS)

    r = topo.router
    rns = names.host(r.name)
    if r.sysctls:
        sysctl(rns, r.sysctls)
    lines = []
    for nic, (sub, addr) in r.interfaces.items():
        _wire(names.host(r.name), nic, names.switch(sub), r.name)
        lines += [f"addr add {addr} dev {nic}", f"link set {nic} up"]
    for dev, addr in r.idc_networks.items():
        # no `dummy` module everywhere: a veth pair kept inside the router stands for the IDC net
        lines += [f"link add {dev} type veth peer name idc-{dev}", f"link set idc-{dev} up",
                  f"addr add {addr} dev {dev}", f"link set {dev} up"]
    ip_batch(rns, lines)

    for n in topo.nodes:
        ns = names.host(n.name)
        _wire(ns, n.nic, names.switch(n.subnet), n.name)
        ip_batch(ns, [f"addr add {n.interface} dev {n.nic}", f"link set {n.nic} up",
                      f"route add default via {n.gateway} dev {n.nic}"])


# The kernel's neighbour (ARP) table is one table for every namespace, sized by the root
# namespace's gc_thresh3 (1024 by default): a lab of N nodes on two subnets needs about N^2/2
# entries, so past a few dozen nodes ARP entries fail ("neighbour table overflow") and BGP
# sessions hang in Connect. Permanent entries are kept off the garbage-collected count (Linux
# 4.19+, "neighbor: Improve garbage collection"), so big labs pin their neighbours instead of
# raising a setting of the machine. Labs of KANS's size keep real ARP.
PIN_NEIGHBOURS_ABOVE = 16


def pin_neighbours(names: Names, topo: Topology) -> int:
    """Permanent ARP entries between the hosts on each subnet (nodes and the router's leg there);
    the number of entries made."""
    if len(topo.nodes) <= PIN_NEIGHBOURS_ABOVE:
        return 0
    import json

    legs = [(names.host(n.name), n.nic, n.subnet, n.ip) for n in topo.nodes]
    legs += [(names.host(topo.router.name), nic, sub, str(addr.ip)) for nic, (sub, addr) in topo.router.interfaces.items()]
    macs = {}
    for ns, nic, _, _ in legs:
        link = json.loads(run(["ip", "-n", ns, "-j", "link", "show", "dev", nic]).stdout)[0]
        macs[(ns, nic)] = link["address"]
    made = 0
    for ns, nic, sub, _ip in legs:
        lines = [f"neigh replace {oip} lladdr {macs[(ons, onic)]} dev {nic} nud permanent"
                 for ons, onic, osub, oip in legs if osub == sub and ons != ns]
        ip_batch(ns, lines)
        made += len(lines)
    return made


def _wire(host_ns: str, nic: str, switch_ns: str, port: str) -> None:
    run(["ip", "link", "add", "name", nic, "netns", host_ns, "type", "veth",
         "peer", "name", port, "netns", switch_ns])
    ip_batch(switch_ns, [f"link set {port} master br0", f"link set {port} up"])


def write_host_tools(names: Names, rec: Record, topo: Topology) -> None:
    """Per-host bin/ with calicoctl, kubectl, birdcl, vtysh, as the real hosts have them.

    They live in the lab's state dir and are put on PATH only for commands run on that host,
    so nothing is installed on the machine itself."""
    import sys

    for host in topo.hosts:
        b = names.host_dir(host) / "bin"
        b.mkdir(parents=True, exist_ok=True)
        tools = {}
        if host == topo.router.name:
            tools["vtysh"] = f'exec /usr/bin/vtysh -N {names.frr_pathspace()} "$@"'
        else:
            ctl = names.bird_ctl(host)
            tools["birdcl"] = f'exec {sys.executable} -m kanslab.backends.local.birdcl {ctl} "$@"'
            tools["birdc"] = f'exec /usr/sbin/birdc -s {ctl} "$@"'
            for tool in ("calicoctl", "kubectl"):
                tools[tool] = (f'exec {sys.executable} -m kanslab.backends.local.hostcli '
                               f'--prefix {names.prefix} --host {host} {tool} "$@"')
        for tool, body in tools.items():
            p = b / tool
            p.write_text(f"#!/bin/sh\n{body}\n")
            os.chmod(p, 0o755)


def host_env(names: Names, host: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{names.host_dir(host) / 'bin'}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    env["KANSLAB_HOST"] = host
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[3]), env.get("PYTHONPATH", "")]))
    return env
