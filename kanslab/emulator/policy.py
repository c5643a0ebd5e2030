"""NetworkPolicy as Felix enforces it: iptables filter rules for one node's cali* interfaces.

`filter_rules(view)` returns iptables-restore lines for the node's whole *filter* table, from
the emulator's `node_view` (pods, namespaces with labels, network_policies, all_pods).

The layout follows Felix's iptables dataplane, so `iptables-save` on a lab node reads like a
Calico node's:

    FORWARD -> cali-FORWARD -> cali-from-wl-dispatch   (-i cali+: traffic FROM a local pod)
                                  -g cali-fw-<iface>    egress policy of that pod
                            -> cali-to-wl-dispatch     (-o cali+: traffic TO a local pod)
                                  -g cali-tw-<iface>    ingress policy of that pod
                            -> ACCEPT if a policy (or no isolation) accepted it (mark 0x10000)
    INPUT   -> cali-INPUT -> cali-wl-to-host (pod to its own node: egress policy, then ACCEPT)

Every endpoint chain first accepts conntrack ESTABLISHED,RELATED (reply traffic of an allowed
connection) and drops INVALID. A pod selected by no policy for a direction is not isolated in
that direction: its chain marks the packet accepted. An isolated pod's chain jumps to one chain
per selecting policy (cali-pi-* for ingress, cali-po-* for egress); a rule that matches sets the
accept mark, and the endpoint chain drops what no policy accepted. Pods on the same node cross
two cali interfaces (egress of one, ingress of the other); between nodes the source node
enforces egress and the destination node ingress: each node enforces only its own pods.

Felix matches peers with ipsets; the lab has no ipset tool, so a selected peer is one `-s`/`-d`
rule per pod IP, and an ipBlock `except` is a small chain of RETURNs in front of the accept.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Iterable

from . import netpol

ACCEPT_MARK = "0x10000/0x10000"
_INGRESS, _EGRESS = "Ingress", "Egress"


def _hash(text: str, n: int = 19) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode()[:n]


def _comment(text: str) -> str:
    return '-m comment --comment "' + text.replace('"', "'")[:250] + '"'


def _key(pol: dict) -> str:
    return f"{pol['metadata'].get('namespace') or 'default'}/{pol['metadata']['name']}"


class _Cluster:
    """What peer selection needs: namespaces' labels and every running pod with a WorkloadEndpoint
    (hostNetwork pods such as calico-node have none, so Calico's policy never selects them)."""

    def __init__(self, view: dict):
        self.ns_labels: dict[str, dict] = view.get("namespaces") or {}
        self.pods = [p for p in view.get("all_pods") or [] if p.get("ip") and p.get("phase") == "Running"
                     and p.get("wep")]

    def ns_labels_of(self, ns: str) -> dict:
        labels = dict(self.ns_labels.get(ns) or {})
        labels.setdefault("kubernetes.io/metadata.name", ns)
        return labels

    def peer_pods(self, peer: dict, policy_ns: str) -> list[dict]:
        """Pods a podSelector/namespaceSelector peer selects (both given: both must match)."""
        pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
        out = []
        for p in self.pods:
            if ns_sel is None:
                if p["namespace"] != policy_ns:
                    continue
            elif not netpol.selector_matches(ns_sel, self.ns_labels_of(p["namespace"])):
                continue
            if pod_sel is not None and not netpol.selector_matches(pod_sel, p["labels"]):
                continue
            out.append(p)
        return out


def _port_match(proto: str, port: int | None = None, end: int | None = None) -> str:
    p = proto.lower()
    if port is None:
        return f"-p {p}"
    dport = f"{port}:{end}" if end is not None and end != port else str(port)
    return f"-p {p} -m {p} --dport {dport}"


def _named(pod: dict, name: str, proto: str) -> list[int]:
    """The container ports of `pod` called `name` with protocol `proto` (a named port needs both)."""
    return [int(p["containerPort"]) for p in pod.get("ports") or []
            if p.get("name") == name and (p.get("protocol") or "TCP").upper() == proto]


def _v4(cidr: str) -> bool:
    return ipaddress.ip_network(cidr, strict=False).version == 4


class _Renderer:
    def __init__(self, view: dict):
        self.view = view
        self.cluster = _Cluster(view)
        self.chains: dict[str, list[str]] = {}  # chain -> rule bodies (without "-A chain")

    def chain(self, name: str) -> list[str]:
        return self.chains.setdefault(name, [])

    # -- one policy, one direction ---------------------------------------------------------
    def policy_chain(self, pol: dict, direction: str, targets: list[dict]) -> str:
        """cali-pi-* / cali-po-*: every rule of `pol` for `direction`; `targets` are the local pods it
        isolates (ingress named ports resolve on them)."""
        key = _key(pol)
        name = ("cali-pi-_" if direction == _INGRESS else "cali-po-_") + _hash(f"{key} {direction}")
        if name in self.chains:
            return name
        body = self.chain(name)
        spec = pol.get("spec") or {}
        ns = pol["metadata"].get("namespace") or "default"
        rules = spec.get("ingress" if direction == _INGRESS else "egress") or []
        for i, rule in enumerate(rules):
            what = f"{key} {direction.lower()} rule {i}"
            before = len(body)
            for match, jump in self._rule_matches(rule or {}, direction, ns, targets, f"{name}-{i}"):
                action = f"-j {jump}" if jump else f"-j MARK --set-xmark {ACCEPT_MARK}"
                body.append(f"{match} {_comment(what)} {action}".lstrip())
            if len(body) > before:
                body.append(f"-m mark --mark {ACCEPT_MARK} {_comment('rule accepted the packet')} -j RETURN")
        return name

    def _rule_matches(self, rule: dict, direction: str, ns: str, targets: list[dict],
                      tag: str) -> Iterable[tuple[str, str | None]]:
        """(match, None) lines accept what they match; (match, chain) lines hand over to an except chain."""
        peers_key, side = ("from", "-s") if direction == _INGRESS else ("to", "-d")
        peers = rule.get(peers_key) or []
        ports = rule.get("ports") or []
        named = [p for p in ports if isinstance(p.get("port"), str)]
        numbered = [p for p in ports if not isinstance(p.get("port"), str)]

        # the peer side: (address match, the pods it covers or None for "any address in a CIDR")
        peer_matches: list[tuple[str, dict | None]] = []  # ("-s 1.2.3.4/32", pod) or ("-s cidr", ipBlock)
        if not peers:
            peer_matches.append(("", None))
        for j, peer in enumerate(peers):
            if peer.get("ipBlock") is not None:
                block = peer["ipBlock"]
                if _v4(block["cidr"]):
                    peer_matches.append((f"{side} {ipaddress.ip_network(block['cidr'], strict=False)}",
                                         dict(block, _chain=f"{tag}-{j}")))
            else:
                for pod in self.cluster.peer_pods(peer, ns):
                    peer_matches.append((f"{side} {pod['ip']}/32", None))

        def with_except(addr: str, block: dict | None, port: str) -> Iterable[tuple[str, str | None]]:
            if block is None or not [e for e in block.get("except") or [] if _v4(e)]:
                yield f"{addr} {port}".strip(), None
                return
            # cidr minus except: a chain that RETURNs for the excepted addresses, else accepts
            sub = "cali-ex-" + _hash(block["_chain"] + port, 20)
            body = self.chain(sub)
            if not body:
                for e in block["except"]:
                    if _v4(e):
                        body.append(f"{side} {ipaddress.ip_network(e, strict=False)} "
                                    f"{_comment('ipBlock except')} -j RETURN")
                body.append(f"{_comment('in ipBlock cidr, outside except')} -j MARK --set-xmark {ACCEPT_MARK}")
            yield f"{addr} {port}".strip(), sub

        # numbered ports (or none at all): same for every target and peer
        port_matches = [""] if not ports else []
        for p in numbered:
            proto = (p.get("protocol") or "TCP").upper()
            port_matches.append(_port_match(proto, p.get("port"), p.get("endPort")))
        for addr, block in peer_matches:
            for pm in port_matches:
                yield from with_except(addr, block, pm)

        # named ports resolve on the destination pod: the isolated pod for ingress, the peer for egress
        for p in named:
            proto, pname = (p.get("protocol") or "TCP").upper(), p["port"]
            if direction == _INGRESS:
                for t in targets:
                    for num in _named(t, pname, proto):
                        dst = f"-d {t['ip']}/32 {_port_match(proto, num)}"
                        for addr, block in peer_matches:
                            yield from with_except(addr, block, dst)
            else:
                for addr, block in peer_matches:
                    for pod in self._egress_pods(addr, block):
                        for num in _named(pod, pname, proto):
                            yield f"-d {pod['ip']}/32 {_port_match(proto, num)}", None

    def _egress_pods(self, addr: str, block: dict | None) -> list[dict]:
        """The pods an egress peer match covers (named ports need a pod to resolve on)."""
        if not addr:
            return self.cluster.pods
        if block is not None:
            return [p for p in self.cluster.pods if netpol.ip_block_contains(block, p["ip"])]
        ip = addr.split()[1].split("/")[0]
        return [p for p in self.cluster.pods if p["ip"] == ip]

    # -- one local pod ------------------------------------------------------------------------
    def endpoint_chain(self, pod: dict, direction: str, policies: list[dict]) -> str:
        iface = pod["interface"]
        name = ("cali-tw-" if direction == _INGRESS else "cali-fw-") + iface
        body = self.chain(name)
        body.append(f"-m conntrack --ctstate RELATED,ESTABLISHED {_comment('reply traffic of an allowed connection')} "
                    "-j ACCEPT")
        body.append("-m conntrack --ctstate INVALID -j DROP")
        body.append(f"-j MARK --set-xmark 0x0/{ACCEPT_MARK.split('/')[1]}")
        who = f"{pod['namespace']}/{pod['name']}"
        selecting = [p for p in policies if self._selects(p, pod, direction)]
        if not selecting:
            body.append(f"{_comment(f'{who}: no policy isolates it for {direction.lower()}')} "
                        f"-j MARK --set-xmark {ACCEPT_MARK}")
            return name
        for pol in selecting:
            targets = [t for t in self.local_pods if self._selects(pol, t, direction)]
            chain = self.policy_chain(pol, direction, targets)
            body.append(f"{_comment(f'policy {_key(pol)}')} -j {chain}")
            body.append(f"-m mark --mark {ACCEPT_MARK} {_comment('Return if policy accepted')} -j RETURN")
        body.append(f"{_comment(f'{who}: drop if no policies passed packet')} -j DROP")
        return name

    @staticmethod
    def _selects(pol: dict, pod: dict, direction: str) -> bool:
        ns = pol["metadata"].get("namespace") or "default"
        spec = pol.get("spec") or {}
        return ns == pod["namespace"] and direction in netpol.policy_types(spec) and \
            netpol.selector_matches(spec.get("podSelector") or {}, pod["labels"])

    # -- the table --------------------------------------------------------------------------
    def render(self) -> list[str]:
        self.local_pods = [p for p in self.view.get("pods") or [] if p.get("interface") and p.get("ip")]
        policies = sorted(self.view.get("network_policies") or [], key=_key)
        fwd, inp = self.chain("cali-FORWARD"), self.chain("cali-INPUT")
        from_wl, to_wl = self.chain("cali-from-wl-dispatch"), self.chain("cali-to-wl-dispatch")
        to_host = self.chain("cali-wl-to-host")
        fwd.append(f"-j MARK --set-xmark 0x0/{ACCEPT_MARK.split('/')[1]}")
        fwd.append(f"-i cali+ {_comment('from a local pod: its egress policy')} -j cali-from-wl-dispatch")
        fwd.append(f"-o cali+ {_comment('to a local pod: its ingress policy')} -j cali-to-wl-dispatch")
        fwd.append(f"-m mark --mark {ACCEPT_MARK} {_comment('Policy explicitly accepted packet.')} -j ACCEPT")
        inp.append(f"-i cali+ {_comment('from a local pod to this node')} -g cali-wl-to-host")
        to_host.append("-j cali-from-wl-dispatch")
        # calico.yaml sets FELIX_DEFAULTENDPOINTTOHOSTACTION=ACCEPT; a FelixConfiguration may say otherwise
        action = {"drop": "DROP", "return": "RETURN"}.get(
            str((self.view.get("felix") or {}).get("defaultEndpointToHostAction", "Accept")).lower(), "ACCEPT")
        to_host.append(f"{_comment('Configured DefaultEndpointToHostAction')} -j {action}")
        for pod in sorted(self.local_pods, key=lambda p: p["interface"]):
            fw = self.endpoint_chain(pod, _EGRESS, policies)
            tw = self.endpoint_chain(pod, _INGRESS, policies)
            from_wl.append(f"-i {pod['interface']} -g {fw}")
            to_wl.append(f"-o {pod['interface']} -g {tw}")
        from_wl.append(f"{_comment('Unknown interface')} -j DROP")
        to_wl.append(f"{_comment('Unknown interface')} -j DROP")
        lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
        lines += [f":{c} - [0:0]" for c in self.chains]
        lines += ["-A INPUT -j cali-INPUT", "-A FORWARD -j cali-FORWARD"]
        for c, body in self.chains.items():
            lines += [f"-A {c} {rule}" for rule in body]
        lines.append("COMMIT")
        return lines


def filter_rules(view: dict) -> list[str]:
    """iptables-restore lines for one node's filter table (NetworkPolicy on its pods' interfaces)."""
    return _Renderer(view).render()
