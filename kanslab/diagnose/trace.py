"""`lab.diagnose(src, dst)`: follow one connection hop by hop through the lab's real state.

Each step runs the command a person would run on that host (`ip route get` in the pod and on
each node, `iptables-save -c`, `ip link`, `birdcl`, `vtysh`, `ss`) and adds one row
(`step, host, check, result, detail`). The first failing row names the layer at fault; a last
row reports one real connection attempt and whether it agrees with the trace.
"""

from __future__ import annotations

from ..errors import InvalidInput
from . import state
from .rules import Packet, Table

TUNNELS = {"tunl0": ("IPIP", 20), "vxlan.calico": ("VXLAN", 50)}
LAYERS = ("policy", "routing", "bgp", "encapsulation", "mtu", "nat", "dns", "ipam", "pod", "none")


class End:
    """One end of the connection: a pod ("ns/pod") or a lab host."""

    def __init__(self, name: str, kind: str, ip: str | None, host: str | None, info: dict | None = None):
        self.name, self.kind, self.ip, self.host, self.info = name, kind, ip, host, info or {}
        self.iface: str | None = None  # a pod's cali* interface on its node


class Trace:
    def __init__(self, lab, src: str, dst: str, port: int = 80, protocol: str = "TCP"):
        self.lab, self.port, self.protocol = lab, int(port), str(protocol).upper()
        if self.protocol not in ("TCP", "UDP", "ICMP"):
            raise InvalidInput(f"protocol {protocol!r}: diagnose follows TCP, UDP or ICMP")
        self.src_name, self.dst_name = src, dst
        self.rows: list[dict] = []
        self.failure: tuple[str, str] | None = None
        self.addr_host = state.host_addresses(lab)
        self.pools = state.pools(lab)
        self.reply_addr: str | None = None
        self.mtu_suspect = False

    # -- rows ----------------------------------------------------------------------------
    def row(self, host, check, result, detail, layer=None, cause=None) -> bool:
        self.rows.append({"step": len(self.rows) + 1, "host": host, "check": check, "result": result,
                          "detail": detail})
        if result == "fail" and self.failure is None:
            self.failure = (layer or "none", cause or detail)
        return result != "fail"

    # -- endpoints -----------------------------------------------------------------------
    def endpoint(self, name: str, role: str) -> End | None:
        if name in self.lab.hosts:
            return End(name, "host", state.host_address(self.lab, name), name)
        key = name if "/" in name else f"default/{name}"
        info = state.pod(self.lab, key)
        if info is None or not info["ip"] or info["phase"] != "Running":
            enabled = [p for p in self.pools if not p["spec"].get("disabled")]
            what = "does not exist" if info is None else f"is {info['phase']} with no IP"
            refused = state.sandbox_failure(self.lab, key) if info is not None else None
            if refused:  # kubelet's event says why the CNI gave it no address
                what += f" (FailedCreatePodSandBox: {refused.rsplit('failed (add): ', 1)[-1]})"
            if not enabled:
                names = ", ".join(p["metadata"]["name"] for p in self.pools) or "none"
                cause = f"{role} pod {key} {what}: no IP pool is enabled to give it an address ({names} disabled)"
                self.row("k8s API", f"{role} pod", "fail", cause, "ipam", cause)
            else:
                self.row("k8s API", f"{role} pod", "fail", f"{role} pod {key} {what}", "pod",
                         f"the {role} pod {key} {what}")
            return None
        self.row(info["node"], f"{role} pod", "ok", f"{key} runs on {info['node']} with IP {info['ip']}")
        return End(key, "pod", info["ip"], info["node"], info)

    # -- the walk ------------------------------------------------------------------------
    def run(self) -> None:
        s = self.endpoint(self.src_name, "source")
        d = self.endpoint(self.dst_name, "destination") if s else None
        if not (s and d):
            return
        self.s, self.d = s, d
        if s.kind == "pod" and not self.source_pod(s, d):
            return
        if d.kind == "pod" and not self.pod_iface(d):
            return
        r = self.node_route(s, d)
        if r is None:
            return
        dev = r.get("dev")
        if d.kind == "pod" and dev == d.iface and s.host == d.host:
            # same node: one FORWARD pass holds the source's egress and the destination's ingress
            self.policy(s, d, s.host, s.iface, dev, both=True)
            self.reply_addr = s.ip
            self.answers(d)
            return
        if s.kind == "pod" and not self.policy(s, d, s.host, s.iface, dev, egress=True):
            return
        if s.kind == "pod" and d.kind == "host":
            self.nat(s, d, dev)
        else:
            self.reply_addr = s.ip if s.kind == "pod" else r.get("prefsrc") or s.ip
        outer = self.encapsulation(s, d, r)
        if outer is False:
            return
        if not self.underlay(s, d, r, outer):
            return
        if not self.arrive(s, d, r, outer):
            return
        if d.kind == "pod" and not self.policy(s, d, d.host, self.in_dev, d.iface, egress=False):
            return
        if not self.return_route(s, d):
            return
        self.answers(d)

    def source_pod(self, s: End, d: End) -> bool:
        r = state.route_get_in_pod(self.lab, s.name, d.ip)
        if "error" in r:
            return self.row(s.name, "pod route", "fail", f"{r['cmd']}: {r['error']}", "pod",
                            f"pod {s.name} has no route to {d.ip}")
        mtu = state.link(self.lab, None, r.get("dev", "eth0"), pod=s.name).get("mtu")
        self.pod_mtu = mtu
        via = f"via {r['gateway']} " if r.get("gateway") else ""
        self.row(s.name, "pod route", "ok", f"{d.ip} {via}dev {r.get('dev')} src {r.get('prefsrc', s.ip)}"
                 + (f" (MTU {mtu})" if mtu else ""))
        return self.pod_iface(s)

    def pod_iface(self, p: End) -> bool:
        r = state.route_get(self.lab, p.host, p.ip)
        p.iface = r.get("dev")
        if "error" in r or not p.iface or not p.iface.startswith("cali"):
            return self.row(p.host, "pod interface", "fail",
                            f"{p.host} has no route to its own pod {p.name} ({r.get('error') or r.get('dev')})", "pod",
                            f"{p.host} does not route {p.ip} to the pod's cali interface: the pod's network is not set up")
        self.row(p.host, "pod interface", "ok", f"{p.ip} dev {p.iface} (the pod's veth on {p.host})")
        return True

    def node_route(self, s: End, d: End) -> dict | None:
        if s.kind == "pod":
            r = state.route_get(self.lab, s.host, d.ip, src=s.ip, iif=s.iface)
        else:
            r = state.route_get(self.lab, s.host, d.ip)
        if "error" in r:
            layer, cause = self.missing_route(s.host, d)
            self.row(s.host, "node route", "fail", f"{r['cmd']}: {r['error']}", layer, cause)
            return None
        matched = self.matching_route(s.host, d.ip)
        dev = r.get("dev")
        kind = TUNNELS.get(dev, ("no encapsulation", 0))[0] if dev != d.iface else "local delivery"
        via = f"via {r['gateway']} " if r.get("gateway") else ""
        self.row(s.host, "node route", "ok", f"{d.ip} {via}dev {dev}: {kind}"
                 + (f" (route: {matched})" if matched else ""))
        return r

    def matching_route(self, host: str, ip: str) -> str:
        """The main-table route that holds `ip` with the longest prefix, as `ip route` prints it."""
        out = self.lab.sh(host, f"ip route show match {ip}", check=False).strip().splitlines()

        def plen(line: str) -> int:
            dst = line.split()[1] if line.split()[0] in ("blackhole", "unreachable") else line.split()[0]
            return -1 if dst == "default" else int(dst.split("/")[1]) if "/" in dst else 32
        return max(out, key=plen).strip() if out else ""

    def policy(self, s: End, d: End, host: str, in_dev: str, out_dev: str, egress: bool = True,
               both: bool = False) -> bool:
        pkt = Packet(src=s.ip if s.kind == "pod" else (self.reply_addr or s.ip), dst=d.ip,
                     protocol=self.protocol.lower(), dport=None if self.protocol == "ICMP" else self.port,
                     in_iface=in_dev or "", out_iface=out_dev or "")
        try:
            walk = Table(state.iptables(self.lab, host, "filter"), "filter",
                         state.ipsets(self.lab, host)).walk(pkt, "FORWARD")
        except Exception as e:  # noqa: BLE001 - a dump we cannot read: say so, do not guess
            self.row(host, "egress policy" if egress else "ingress policy", "skip", f"iptables-save unreadable: {e}")
            return True
        parts = [("egress policy", ("cali-fw-", "cali-po-"), s.name), ("ingress policy", ("cali-tw-", "cali-pi-"), d.name)]
        if not both:
            parts = parts[:1] if egress else parts[1:]
        for check, prefixes, who in parts:
            if walk.verdict == "undecided":
                self.row(host, check, "skip", f"cannot evaluate the rules here: {walk.undecided}")
                continue
            hit = walk.deciding(prefixes)
            consulted = [p for p in walk.policies(prefixes)]
            dropped = walk.verdict in ("DROP", "REJECT") and hit is not None and hit.target in ("DROP", "REJECT")
            why = _explain(hit, consulted, walk.policy_of(hit.chain) if hit is not None else None)
            if dropped:
                cause = (f"{check} on {host} drops {self.protocol} {self.port if self.protocol != 'ICMP' else ''} "
                         f"from {s.name} to {d.name}: {why}").replace("  ", " ")
                return self.row(host, check, "fail", f"DROP in {hit.chain}: {why}", "policy", cause)
            if hit is None:
                self.row(host, check, "skip", f"no Calico endpoint chain for {who} on {host}")
                continue
            self.row(host, check, "ok", f"{hit.chain}: {why}")
        if walk.verdict in ("DROP", "REJECT"):
            h = walk.hits[-1]
            return self.row(host, "filter FORWARD", "fail", f"{h.target} by `{h.rule}` in {h.chain}", "policy",
                            f"{host}'s filter table drops the packet ({h.chain})")
        return True

    def nat(self, s: End, d: End, dev: str) -> None:
        """natOutgoing: does the node masquerade the pod's address on its way out of the pools?"""
        pkt = Packet(src=s.ip, dst=d.ip, protocol=self.protocol.lower(), dport=self.port, out_iface=dev or "")
        walk = Table(state.iptables(self.lab, s.host, "nat"), "nat",
                     state.ipsets(self.lab, s.host)).walk(pkt, "POSTROUTING")
        pool = state.pool_of(self.pools, s.ip)
        flag = f" (pool {pool['metadata']['name']} natOutgoing={str(bool(pool['spec'].get('natOutgoing'))).lower()})" \
            if pool else ""
        if walk.verdict == "MASQUERADE":
            node_ip = state.route_get(self.lab, s.host, d.ip).get("prefsrc") or self.lab.topology.node(s.host).ip
            self.reply_addr = node_ip
            self.row(s.host, "natOutgoing", "ok", f"MASQUERADE: {s.ip} leaves as {node_ip}{flag}")
        elif walk.verdict == "undecided":
            self.reply_addr = s.ip
            self.row(s.host, "natOutgoing", "skip", f"cannot tell whether {s.ip} is masqueraded: {walk.undecided}{flag}")
        else:
            self.reply_addr = s.ip
            self.masq_missing = True
            self.row(s.host, "natOutgoing", "ok", f"not masqueraded: the packet leaves with source {s.ip}{flag}")

    def encapsulation(self, s: End, d: End, r: dict):
        dev = r.get("dev")
        if dev not in TUNNELS:
            self.row(s.host, "encapsulation", "skip", f"no encapsulation: the inner packet leaves on {dev}")
            self.in_dev = None
            return None
        kind, overhead = TUNNELS[dev]
        gw = r.get("gateway")
        outer = gw if dev == "tunl0" else state.vxlan_peer(self.lab, s.host, gw)
        link = state.link(self.lab, s.host, dev)
        if not outer or not link:
            return self.row(s.host, "encapsulation", "fail", f"{dev}: no outer destination for {gw}", "encapsulation",
                            f"{s.host} cannot find the node behind {gw} on {dev}") and False
        o = state.route_get(self.lab, s.host, outer)
        self.tunnel_mtu, self.overhead = link.get("mtu"), overhead
        self.row(s.host, "encapsulation", "ok", f"{kind}: outer {o.get('prefsrc')} -> {outer} "
                 f"({dev} MTU {self.tunnel_mtu} + {overhead} bytes of outer headers)")
        self.in_dev = dev
        return outer

    def underlay(self, s: End, d: End, r: dict, outer: str | None) -> bool:
        target = outer or d.ip
        want = self.addr_host.get(target, d.host) if outer else d.host
        host, route = s.host, (state.route_get(self.lab, s.host, outer) if outer else r)
        mtus: list[tuple[str, str, int]] = []
        for _ in range(6):
            if "error" in route:
                layer, cause = self.missing_route(host, d)
                return self.row(host, "underlay route", "fail", f"{route['cmd']}: {route['error']}", layer, cause)
            dev, nh = route.get("dev"), route.get("gateway") or target
            mtus.append((host, dev, state.link(self.lab, host, dev).get("mtu") or 0))
            owner = self.addr_host.get(nh) or (d.host if nh == d.ip else None)
            if owner is None:
                return self.row(host, "underlay next hop", "fail", f"{target} via {nh} dev {dev}: {nh} is no lab host",
                                "routing", f"{host} sends {target} to {nh}, which is not a lab host")
            self.row(host, "underlay next hop", "ok", f"{target} via {nh} dev {dev} -> {owner}")
            if owner == want:
                nic = state.route_get(self.lab, owner, route.get("prefsrc") or host).get("dev")
                if nic:
                    mtus.append((owner, nic, state.link(self.lab, owner, nic).get("mtu") or 0))
                break
            in_nic = state.route_get(self.lab, owner, route.get("prefsrc") or nh).get("dev")
            if in_nic:
                mtus.append((owner, in_nic, state.link(self.lab, owner, in_nic).get("mtu") or 0))
            host, route = owner, state.route_get(self.lab, owner, target)
        return self.mtu(mtus)

    def mtu(self, mtus: list[tuple[str, str, int]]) -> bool:
        need = (self.tunnel_mtu + self.overhead) if getattr(self, "in_dev", None) in TUNNELS else getattr(self, "pod_mtu", None)
        if not need or not mtus:
            return True
        low = [(h, dev, m) for h, dev, m in mtus if m and m < need]
        path = ", ".join(f"{h} {dev} {m}" for h, dev, m in mtus)
        if low:
            h, dev, m = low[0]
            self.mtu_suspect = True
            cause = (f"{h}'s {dev} has MTU {m}, below the {need} bytes a full-size packet needs on the wire: "
                     "full-size packets are dropped without an ICMP reply (an MTU black hole), while SYNs and small "
                     "requests pass")
            return self.row(h, "path MTU", "fail", f"needs {need}; path: {path}", "mtu", cause)
        return self.row(mtus[-1][0], "path MTU", "ok", f"needs {need}; path: {path}")

    def arrive(self, s: End, d: End, r: dict, outer: str | None) -> bool:
        if d.kind == "host":
            got = state.route_get(self.lab, d.host, d.ip)
            ok = got.get("type") == "local" or "error" not in got and not got.get("gateway")
            self.in_dev = None
            return self.row(d.host, "delivery", "ok" if ok else "fail", f"{d.ip} is {d.host}'s own address" if ok
                            else f"{d.ip} is not local on {d.host}", "routing", f"{d.ip} is not on {d.host}")
        in_dev = self.in_dev or self.lab.topology.node(d.host).nic
        if self.in_dev:
            link = state.link(self.lab, d.host, in_dev)
            if not link or "UP" not in link.get("flags", []):
                return self.row(d.host, "decapsulation", "fail", f"{in_dev} is missing or down on {d.host}",
                                "encapsulation", f"{d.host} has no working {in_dev} to decapsulate the packet")
            self.row(d.host, "decapsulation", "ok", f"{in_dev} up on {d.host}: the outer header comes off")
        self.in_dev = in_dev
        src = s.ip if s.kind == "pod" else self.reply_addr
        got = state.route_get(self.lab, d.host, d.ip, src=src, iif=in_dev)
        if "error" in got or got.get("dev") != d.iface:
            return self.row(d.host, "destination route", "fail", f"{got['cmd']}: {got.get('error') or got.get('dev')}",
                            "routing", f"{d.host} does not forward {d.ip} (arriving on {in_dev}) to the pod's {d.iface}")
        return self.row(d.host, "destination route", "ok", f"{d.ip} dev {d.iface} (arriving on {in_dev})")

    def return_route(self, s: End, d: End) -> bool:
        back = self.reply_addr or s.ip
        got = state.route_get(self.lab, d.host, back)
        bad = "error" in got
        matched = self.matching_route(d.host, back) if not bad else ""
        pool = state.pool_of(self.pools, back)
        if not bad and pool and d.kind == "host" and (matched.startswith("default") or not matched):
            bad = True
        if bad:
            if getattr(self, "masq_missing", False) and d.kind == "host":
                flag = pool["metadata"]["name"] if pool else "its pool"
                cause = (f"{s.host} does not masquerade {back} (natOutgoing is off on {flag}) and {d.host} has no route "
                         f"back to {back}: the reply never returns")
                return self.row(d.host, "return route", "fail", f"no route back to {back}", "nat", cause)
            layer, cause = self.missing_route(d.host, s if s.kind == "pod" else d)
            return self.row(d.host, "return route", "fail", f"{got.get('cmd')}: {got.get('error') or matched}", layer,
                            cause)
        via = f"via {got['gateway']} " if got.get("gateway") else ""
        return self.row(d.host, "return route", "ok", f"{back} {via}dev {got.get('dev')}")

    def answers(self, d: End) -> bool:
        if self.protocol == "ICMP":
            return self.row(d.host, "answers", "ok", "the kernel answers ICMP echo")
        if d.kind == "host":
            out = self.lab.sh(d.host, f"ss -H -l{'t' if self.protocol == 'TCP' else 'u'}n 'sport = :{self.port}'",
                              check=False)
            if not out.strip():
                self.probe_protocol = "ICMP"
                return self.row(d.host, "answers", "skip", f"nothing listens on {self.protocol} {self.port} on "
                                f"{d.host}; the probe uses ICMP echo instead")
            return self.row(d.host, "answers", "ok", f"{self.protocol} {self.port} is open on {d.host}")
        listening = state.listening(self.lab, d.name, self.port, self.protocol)
        if listening is None:
            return self.row(d.name, "answers", "skip", "could not list the pod's sockets")
        if not listening:
            cause = f"nothing in pod {d.name} listens on {self.protocol} {self.port}"
            return self.row(d.name, "answers", "fail", cause, "pod", cause)
        return self.row(d.name, "answers", "ok", f"{d.name} listens on {self.protocol} {self.port}")

    # -- which layer, when a route is missing ------------------------------------------------
    def missing_route(self, host: str, d: End) -> tuple[str, str]:
        ip = d.ip
        pool = state.pool_of(self.pools, ip)
        if pool is None:
            return "routing", f"{host} has no route to {ip}"
        problems = []
        nodes = [n for n in dict.fromkeys([getattr(self, "s", d).host, d.host, host]) if n in
                 {x.name for x in self.lab.topology.nodes}]
        for n in nodes:
            rows, why = state.bird_sessions(self.lab, n)
            if rows is None:
                problems.append(f"BIRD on {n} does not answer ({why})")
                continue
            for r in rows:
                if "Established" not in str(r.get("info")):
                    problems.append(f"{n}'s BGP session {r['name']} is {r.get('info') or r.get('state')}")
        if problems:
            return "bgp", (f"{host} has no route to {ip} ({pool['spec']['cidr']}): " + "; ".join(problems[:3]))
        if host == self.lab.topology.router.name:
            return "routing", (f"{host} has no route to {ip}: pool {pool['metadata']['name']} is not encapsulated here "
                               "and nothing (no BGP peering, no static route) tells the router where its blocks are")
        return "routing", f"{host} has no route to {ip} although its BGP sessions are Established"


def _explain(hit, consulted: list[str], policy: str | None = None) -> str:
    """`policy`: the policy whose chain holds the deciding rule (Walk.policy_of)."""
    if hit is None:
        return "no rule decided"
    c = hit.comment or ""
    pk = f" [counter: {hit.packets} packets]" if hit.packets is not None else ""
    if policy and hit.target == "MARK" and "0x10000/0x10000" in hit.rule:
        direction = "ingress" if hit.chain.startswith("cali-pi-") else "egress"
        return f"allowed by {policy} ({direction} rule){pk}"
    if policy and hit.target in ("DROP", "REJECT"):
        return f"denied by {policy}{pk}"
    if "no policy isolates" in c:
        return f"{c}: allowed{pk}"
    if hit.target in ("DROP", "REJECT"):
        pols = ", ".join(consulted) or "none"
        return f"{c or hit.rule} (policies that select it: {pols}){pk}"
    return f"{c or hit.rule}{pk}"

