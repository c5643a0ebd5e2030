"""ipywidgets on the public `Lab` API, for instructors presenting live and students trying things.

- `ModeSwitcher(lab, node="k8s-w1")`: the IPPool's routing mode (IPIP, Direct, CrossSubnet, VXLAN)
  and natOutgoing; the node's pod routes as they converge; a cross-node ping capture.
- `PolicyPlayground(lab)`: a YAML editor with Apply and Delete; reachability before and after.
- `CaptureView(lab, host, bpf)`: tcpdump on a lab host with a live packet count.
- `BGPPanel(lab)`: BGP sessions of the nodes (BIRD) and the router (FRR) and the routes each peer gives.

On the replay backend a widget renders from the calls of its first render (recorded with the
chapter) and its actions say they need a live lab. Each widget also leaves a static HTML copy of
what it shows, so an exported notebook shows it without a widget manager.
"""

from .bgp import BGPPanel
from .capture import CaptureView
from .modes import MODES, ModeSwitcher
from .policy import PolicyPlayground

__all__ = ["ModeSwitcher", "PolicyPlayground", "CaptureView", "BGPPanel", "MODES"]
