"""Run commands in a pod's network namespace from the node that runs the pod, with the node's tools.

Images such as traefik/whoami hold one binary and no shell, so `kubectl exec` cannot run ping,
curl or nc in them ("executable file not found in $PATH", exit 126). The node can: its route to
the pod IP names the pod's cali* interface, and `ip link` names the namespace that veth's peer
lives in (containerd's CNI namespaces are named `cni-<uuid>`; the embedded lab's are named too).
Used by the SSH backends for reachability probes and as `lab.exec`'s fallback.
"""

from __future__ import annotations

import re
import shlex

# Shell, hand-written because it runs on the node, where only sh and iproute2 can be assumed.
# `podns IP` prints the name of the network namespace of the pod with that IP on this node.
PODNS_SH = r"""
podns() {
  dev=$(ip -o route get "$1" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')
  [ -n "$dev" ] && ip -o link show "$dev" 2>/dev/null | sed -n 's/.* link-netns \([^ ]*\).*/\1/p'
}
""".strip()

# what kubectl exec prints when the container's image has no such program
NO_SUCH_PROGRAM = re.compile(r"executable file not found in \$PATH")
NO_NAMESPACE_STATUS = 125


def exec_script(pod_ip: str, cmd: str) -> str:
    """A node script running CMD (a shell command line) in the namespace of the pod with POD_IP."""
    ip = shlex.quote(pod_ip)
    return (f"{PODNS_SH}\nns=$(podns {ip})\n"
            f"if [ -z \"$ns\" ]; then echo \"no network namespace for pod IP {pod_ip} on this node\" >&2; "
            f"exit {NO_NAMESPACE_STATUS}; fi\n"
            f"exec ip netns exec \"$ns\" sh -c {shlex.quote(cmd)}\n")


def pod_node_and_ip(kubectl, namespace: str, pod: str) -> tuple[str, str] | None:
    """(node, pod IP) from `kubectl get pod -o json` (KUBECTL: args -> stdout); None before it runs."""
    import json

    info = json.loads(kubectl(f"get pod -n {shlex.quote(namespace)} {shlex.quote(pod)} -o json"))
    node, ip = (info.get("spec") or {}).get("nodeName"), (info.get("status") or {}).get("podIP")
    return (node, ip) if node and ip else None
