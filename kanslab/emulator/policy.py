"""NetworkPolicy as Felix enforces it: iptables filter rules for one node's cali* interfaces.

`filter_rules(view)` returns iptables-restore lines for the node's whole *filter* table, from
the emulator's `node_view` (pods, namespaces with labels, network_policies, all_pods).
"""

from __future__ import annotations


def filter_rules(view: dict) -> list[str]:
    # Placeholder until enforcement lands: everything allowed, as with no NetworkPolicy at all.
    return ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", "COMMIT"]
