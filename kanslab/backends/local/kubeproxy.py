"""kube-proxy in iptables mode on every node: its KUBE-* chains, restored with --noflush beside Felix's.

The rules come from emulator/kube_proxy_rules.py; this module reads what they need from the
datastore and writes them into a node's namespace through iptables_owned (only KUBE-* chains and
kube-proxy's own jumps in the built-in chains are touched).
"""

from __future__ import annotations

from ...emulator import kube_proxy_rules as kp
from . import iptables_owned

PREFIX, MARKER = "KUBE-", "-j KUBE-"


def wanted_tables(services: list[dict], endpoints: dict[tuple[str, str], dict], cluster_cidr: str) -> dict[str, list[str]]:
    tables = kp.render(services, endpoints, cluster_cidr)
    # kube-proxy prepends each jump in turn, so a built-in chain lists them in reverse order
    for table, chain, hook, comment, extra in reversed(kp.JUMPS):
        tables[table].append(kp.jump_rule(hook, chain, comment, extra))
    return tables


class KubeProxy:
    def __init__(self):
        self.applied: dict[str, str] = {}   # node namespace -> rules last restored

    def sync(self, ns: str, tables: dict[str, list[str]]) -> bool:
        """Restore the node's KUBE-* chains when they changed since the last sync; True when it did."""
        text = repr(tables)
        if self.applied.get(ns) == text:
            return False
        iptables_owned.restore(ns, tables, PREFIX, MARKER, leading=False)
        self.applied[ns] = text
        return True

    def forget(self, ns: str) -> None:
        """Felix's restore may have re-ordered the built-in chains: check them again next time."""
        self.applied.pop(ns, None)
