"""Reachability probes on a cluster reached over SSH: from each client pod's own network namespace.

The course's pods run images without a shell (traefik/whoami), so `kubectl exec` cannot probe
from inside them. The node that runs a client pod enters the pod's network namespace instead
(`..podns`). The probe itself is the node's own `nc`: a TCP probe succeeds when the handshake
completes, a UDP probe when the server echoes the datagram back. All probes of a node run at once in one SSH
command; the nodes run in parallel.
"""

from __future__ import annotations

import math
import shlex
from concurrent.futures import ThreadPoolExecutor

from ...errors import InvalidInput, LabError
from ..podns import PODNS_SH

PAYLOAD = "kanslab-probe"

# Shell run on a node (after podns.PODNS_SH), where only sh, iproute2 and netcat can be assumed.
_PRELUDE = PODNS_SH + r"""
tcp() { if ip netns exec "$2" nc -z -w "$W" "$3" "$P" >/dev/null 2>&1; then echo "$1 ok"; else echo "$1 no"; fi; }
udp() {
  r=$(printf '%s\n' "$M" | ip netns exec "$2" timeout "$W" nc -u -w "$W" "$3" "$P" 2>/dev/null)
  case "$r" in *"$M"*) echo "$1 ok" ;; *) echo "$1 no" ;; esac
}
"""


def node_script(clients: dict[str, list[tuple[int, str]]], port: int, protocol: str, timeout: float) -> str:
    """The script for one node: CLIENTS maps a client pod IP to its (index, server IP) probes."""
    fn = "tcp" if protocol == "TCP" else "udp"
    lines = [f"W={max(1, math.ceil(timeout))}; P={int(port)}; M={PAYLOAD}", _PRELUDE.strip()]
    for client_ip, probes in clients.items():
        c = shlex.quote(client_ip)
        lines.append(f"ns=$(podns {c}); if [ -z \"$ns\" ]; then echo \"nons {c}\"; else")
        lines += [f"  {fn} {i} \"$ns\" {shlex.quote(ip)} &" for i, ip in probes]
        lines.append("fi")
    lines.append("wait")
    return "\n".join(lines) + "\n"


def probe(backend, pairs: list[tuple[str, str]], port: int, protocol: str = "TCP",
          timeout: float = 1.0) -> list[bool]:
    """`pairs` of (client "ns/pod", server IP); one bool per pair, as the embedded lab's probe."""
    protocol = protocol.upper()
    if protocol not in ("TCP", "UDP"):
        raise InvalidInput(f"protocol {protocol!r}: probes are TCP or UDP")
    pods = backend.pods()
    where = {f"{r.namespace}/{r.name}": (r.node, r.ip) for r in pods.itertuples()}
    by_node: dict[str, dict[str, list[tuple[int, str]]]] = {}
    for i, (client, server_ip) in enumerate(pairs):
        node, ip = where.get(client, (None, None))
        if not node or not ip:
            raise InvalidInput(f"pod {client} is not running on any node (no IP yet)")
        by_node.setdefault(node, {}).setdefault(ip, []).append((i, server_ip))
    results = [False] * len(pairs)

    def run(node: str) -> str:
        script = node_script(by_node[node], port, protocol, timeout)
        return backend.sh(node, "sh -s", input=script, timeout=timeout + 30, sudo=True)

    with ThreadPoolExecutor(max_workers=max(1, len(by_node))) as ex:
        outputs = dict(zip(by_node, ex.map(run, by_node), strict=True))
    for node, out in outputs.items():
        for line in out.splitlines():
            word, _, rest = line.partition(" ")
            if word == "nons":
                raise LabError(f"cannot find the network namespace of the pod with IP {rest} on {node}: "
                               "its cali* interface names no named namespace (containerd's CNI names them cni-*)")
            if word.isdigit() and rest in ("ok", "no"):
                results[int(word)] = rest == "ok"
    return results
