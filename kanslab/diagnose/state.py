"""Read the lab's real state with the commands a person would type (any backend, read-only).

Every function takes the `Lab` and returns plain data; nothing here looks at the emulator's model.
"""

from __future__ import annotations

import ipaddress
import json
import shlex

from ..errors import CommandError, ParseError
from ..parse import bird_protocols, frr_bgp_summary


def sandbox_failure(lab, key: str) -> str | None:
    """The message of the newest FailedCreatePodSandBox event of "ns/pod": why the CNI refused it."""
    ns, _, name = key.rpartition("/")
    out = lab.kubectl(f"get events -n {shlex.quote(ns or 'default')} --field-selector "
                      f"involvedObject.name={shlex.quote(name)},reason=FailedCreatePodSandBox "
                      "--sort-by=.lastTimestamp -o json", check=False)
    try:
        items = json.loads(out).get("items") or []
    except (json.JSONDecodeError, AttributeError):
        return None
    return items[-1].get("message") if items else None


def pod(lab, key: str) -> dict | None:
    """`kubectl get pod -o json` of "ns/pod" as {key, namespace, name, node, ip, phase, ports}; None if absent."""
    ns, _, name = key.rpartition("/")
    ns = ns or "default"
    out = lab.kubectl(f"get pod {shlex.quote(name)} -n {shlex.quote(ns)} -o json", check=False)
    try:
        p = json.loads(out)
    except json.JSONDecodeError:
        return None
    if p.get("kind") != "Pod":
        return None
    ports = [(int(cp["containerPort"]), (cp.get("protocol") or "TCP").upper())
             for c in p["spec"].get("containers", []) for cp in c.get("ports") or []]
    st = p.get("status") or {}
    return {"key": f"{ns}/{name}", "namespace": ns, "name": name, "node": p["spec"].get("nodeName"),
            "ip": st.get("podIP"), "phase": st.get("phase", "Pending"), "ports": ports,
            "labels": p["metadata"].get("labels") or {}}


def host_addresses(lab) -> dict[str, str]:
    """address -> host, from the topology (the same YAML the vagrant VMs are built from)."""
    topo = lab.topology
    out = {n.ip: n.name for n in topo.nodes}
    for _, (_, iface) in topo.router.interfaces.items():
        out[str(iface.ip)] = topo.router.name
    for _, iface in topo.router.idc_networks.items():
        out[str(iface.ip)] = topo.router.name
    return out


def host_address(lab, host: str) -> str:
    """The address a host is reached at: a node's own, the router's first IDC address (outside every
    pool and node network, so reaching it exercises natOutgoing)."""
    topo = lab.topology
    if host == topo.router.name:
        return str(next(iter(topo.router.idc_networks.values())).ip)
    return topo.node(host).ip


def _json_or_error(text: str) -> list | dict:
    text = text.strip()
    if text.startswith(("[", "{")):
        return json.loads(text)
    return {"error": text.replace("RTNETLINK answers: ", "") or "no answer"}


def route_get(lab, host: str, dst: str, src: str | None = None, iif: str | None = None) -> dict:
    """`ip -j route get` on a host (with `from SRC iif DEV` to ask as for a forwarded packet)."""
    cmd = f"ip -j route get {dst}" + (f" from {src} iif {iif}" if src and iif else "")
    r = _json_or_error(lab.sh(host, cmd + " 2>&1", check=False))
    r = r[0] if isinstance(r, list) and r else r
    return dict(r, cmd=cmd) if isinstance(r, dict) else {"error": "no answer", "cmd": cmd}


def route_get_in_pod(lab, key: str, dst: str) -> dict:
    cmd = f"ip -j route get {dst}"
    try:
        r = _json_or_error(lab.exec(key, cmd + " 2>&1", check=False))
    except CommandError as e:
        return {"error": e.stderr.strip() or str(e), "cmd": cmd}
    r = r[0] if isinstance(r, list) and r else r
    return dict(r, cmd=cmd) if isinstance(r, dict) else {"error": "no answer", "cmd": cmd}


def link(lab, host: str, dev: str, pod: str | None = None) -> dict:
    """`ip -j link show dev DEV` on a host (or in a pod): {} when the device does not exist."""
    cmd = f"ip -j link show dev {shlex.quote(dev)} 2>/dev/null"
    out = lab.exec(pod, cmd, check=False) if pod else lab.sh(host, cmd, check=False)
    try:
        data = json.loads(out or "[]")
    except json.JSONDecodeError:
        return {}
    return data[0] if data else {}


def addresses(lab, host: str, dev: str) -> list[str]:
    out = lab.sh(host, f"ip -j -4 addr show dev {shlex.quote(dev)} 2>/dev/null", check=False)
    try:
        return [a["local"] for x in json.loads(out or "[]") for a in x.get("addr_info", [])]
    except json.JSONDecodeError:
        return []


def vxlan_peer(lab, host: str, vtep: str) -> str | None:
    """The underlay address behind a remote VTEP address: its MAC (`ip neigh`), then `bridge fdb`."""
    neigh = json.loads(lab.sh(host, "ip -j neigh show dev vxlan.calico", check=False) or "[]")
    mac = next((n.get("lladdr") for n in neigh if n.get("dst") == vtep), None)
    fdb = json.loads(lab.sh(host, "bridge -j fdb show dev vxlan.calico", check=False) or "[]")
    return next((f.get("dst") for f in fdb if f.get("mac") == mac and f.get("dst")), None)


def iptables(lab, host: str, table: str) -> str:
    return lab.sh(host, f"iptables-save -c -t {table}")


def ipsets(lab, host: str) -> dict[str, list[str]] | None:
    """The host's ipsets (Felix's pools and hosts sets), None where `ipset` cannot be read."""
    from .rules import parse_ipset_save

    out = lab.sh(host, "ipset save", check=False)
    return parse_ipset_save(out) if out.strip() else None


def bird_sessions(lab, node: str) -> tuple[list[dict] | None, str]:
    """BGP protocols of a node's BIRD (`birdcl show protocols`): (rows, "") or (None, why not)."""
    try:
        out = lab.sh(node, "birdcl show protocols")
    except CommandError as e:
        return None, (e.stderr or e.stdout or "birdcl failed").strip().splitlines()[-1]
    try:
        df = bird_protocols(out)
    except ParseError:
        return None, out.strip().splitlines()[-1] if out.strip() else "no answer"
    return [r for r in df.to_dict("records") if r["proto"] == "BGP"], ""


def router_sessions(lab) -> list[dict]:
    out = lab.sh(lab.topology.router.name, "vtysh -c 'show bgp summary json'", check=False)
    try:
        return frr_bgp_summary(out).to_dict("records")
    except ParseError:
        return []


def pools(lab) -> list[dict]:
    out = lab.calicoctl("get ippool -o json", check=False)
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        return []
    return data.get("items", [data] if data.get("kind") == "IPPool" else [])


def pool_of(pools_: list[dict], ip: str) -> dict | None:
    a = ipaddress.ip_address(ip)
    for p in pools_:
        if a in ipaddress.ip_network(p["spec"]["cidr"], strict=False):
            return p
    return None


def listening(lab, key: str, port: int, protocol: str) -> bool | None:
    """Is something in the pod listening on PORT (`ss -H -l`)? None when ss could not run."""
    flag = "-Hltn" if protocol == "TCP" else "-Hlun"
    try:
        out = lab.exec(key, f"ss {flag} 'sport = :{int(port)}'", check=True)
    except CommandError:
        return None
    return bool(out.strip())
