"""Command output -> pandas DataFrame, one function per command.

Every function takes the command's text (or, for `pcap`, a file path) and returns a DataFrame
whose columns are the command's own headers in snake_case. Text that is not that command's
output raises `kanslab.ParseError` naming the parser and the line.
"""

from .bird import bird_protocols, bird_routes
from .calico import (
    calico_bgppeers,
    calico_ipam_blocks,
    calico_ipam_borrowed,
    calico_ipam_config,
    calico_ippools,
    calico_node_status,
    calico_nodes,
    calico_weps,
)
from .frr import frr_bgp_summary, frr_routes
from .iptables import iptables_save
from .pcap import pcap
from .ping import ping
from .prometheus import prometheus, prometheus_api
from .routes import ip_route, route_n

__all__ = [
    "bird_protocols", "bird_routes", "calico_bgppeers", "calico_ipam_blocks", "calico_ipam_borrowed", "calico_ipam_config",
    "calico_ippools",
    "calico_node_status", "calico_nodes", "calico_weps", "frr_bgp_summary", "frr_routes",
    "iptables_save", "pcap", "ping", "prometheus", "prometheus_api", "ip_route", "route_n",
]
