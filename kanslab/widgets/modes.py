"""`ModeSwitcher(lab, node)`: switch the IPPool's routing mode and watch a node's pod routes follow."""

from __future__ import annotations

import json

import ipywidgets as w
import pandas as pd

from .. import parse, plot
from ..errors import InvalidInput, LabError
from ..waiting import wait_for
from ._base import LabWidget, figure_html, show, table_html

MODES = ("IPIP", "Direct", "CrossSubnet", "VXLAN")
# the pool's spec for each mode, patched as chapter 01 does (`calicoctl patch ippool ... -p`); both
# fields in one patch, since Calico refuses a pool with IPIP and VXLAN on at once
SPECS = {
    "IPIP": {"ipipMode": "Always", "vxlanMode": "Never"},
    "Direct": {"ipipMode": "Never", "vxlanMode": "Never"},
    "CrossSubnet": {"ipipMode": "CrossSubnet", "vxlanMode": "Never"},
    "VXLAN": {"ipipMode": "Never", "vxlanMode": "Always"},
}
# one filter for every mode's cross-node packet on the NIC: plain ICMP, IPIP (protocol 4), VXLAN (UDP 4789)
PING_BPF = "icmp or ip proto 4 or udp port 4789"
CONVERGE_TIMEOUT = 60.0


def mode_of(ipipmode: str, vxlanmode: str) -> str | None:
    """The switcher's label for a pool's ipipMode/vxlanMode (None for a mix it does not offer)."""
    for name, spec in SPECS.items():
        if (spec["ipipMode"], spec["vxlanMode"]) == (str(ipipmode), str(vxlanmode)):
            return name
    return None


def expected_kind(mode: str, same_subnet: bool | None) -> set[str]:
    """How a node routes another node's block in `mode` (`block_routes`' kind): same subnet or not."""
    same = {"IPIP": "ipip", "VXLAN": "vxlan", "Direct": "direct", "CrossSubnet": "direct"}[mode]
    other = {"IPIP": "ipip", "VXLAN": "vxlan", "Direct": "router", "CrossSubnet": "ipip"}[mode]
    if same_subnet is None:
        return {same, other}
    return {same} if same_subnet else {other}


def converged(paths: pd.DataFrame, mode: str, topology, node: str, blocks: int) -> tuple[int, int]:
    """(remote blocks routed as `mode` routes them, remote blocks expected): the progress of a switch.
    `blocks` is how many other nodes' blocks the node routed before the switch (a switch adds none)."""
    me = topology.node(node)
    subnet = {n.name: n.subnet for n in topology.nodes}
    remote = paths[paths.kind != "local"]
    good = 0
    for r in remote.itertuples():
        same = None if r.owner not in subnet else subnet[r.owner] == me.subnet
        good += r.kind in expected_kind(mode, same)
    return good, max(blocks, len(remote))


class ModeSwitcher(LabWidget):
    title = "kanslab.widgets.ModeSwitcher"
    needs_live = "Switching the routing mode"

    def __init__(self, lab, node: str = "k8s-w1", pool: str | None = None):
        super().__init__(lab)
        lab.topology.node(node)  # an unknown node fails here, before any widget exists
        self.node = node
        self.mode = w.ToggleButtons(options=list(MODES), value=None, description="mode",
                                    tooltips=[f"ipipMode {s['ipipMode']}, vxlanMode {s['vxlanMode']}"
                                              for s in SPECS.values()])
        self.nat = w.Checkbox(description="natOutgoing", indent=False)
        self.progress = w.IntProgress(min=0, max=1, value=0, description="routes", bar_style="info")
        self.ping = w.Button(description="Ping across nodes", icon="exchange",
                             tooltip=f"capture on {node}'s NIC while a pod on {node} pings a pod on another node")
        self.pool_out, self.routes_out, self.fig_out, self.capture_out = (w.Output() for _ in range(4))
        self.pools = pd.DataFrame()
        self.paths = pd.DataFrame()
        self.packets: pd.DataFrame | None = None
        self._figure = None
        self._flows = None
        self.pool_name = pool
        self._quiet = False
        self.children = [w.HTML(f"<b>Calico routing mode</b>: where <code>{node}</code> sends each pod block"),
                         w.HBox([self.mode, self.nat]), self.status, self.progress, self.pool_out,
                         self.routes_out, self.fig_out, self.ping, self.capture_out]
        try:
            self._read_pool()
            self._show_paths(lab.pod_routes(node), figure=True)
            self.progress.max = max(1, len(self.paths[self.paths.kind != "local"]))
            self.progress.value = self.progress.max
            self.say("ok", f"{self.pool_name}: {self.mode.value or 'a mode this switcher does not offer'}; "
                           f"{node}'s routes as they are now")
        except Exception as e:  # noqa: BLE001 - shown in the widget
            from ._base import error_text

            self.say("error", error_text(e))
        self.mode.observe(self._on_mode, names="value")
        self.nat.observe(self._on_nat, names="value")
        self.ping.on_click(lambda _b: self.run_action(self._ping, "The ping capture"))

    # -- reading --------------------------------------------------------------------------------
    def _read_pool(self) -> None:
        pools = parse.calico_ippools(self.lab.calicoctl("get ippool -o wide"))
        if pools.empty:
            raise LabError("no IPPool: `calicoctl get ippool` lists none")
        if self.pool_name is None:
            cidr = str(self.lab.topology.cluster.pod_cidr)
            match = pools[pools.cidr == cidr]
            self.pool_name = (match if len(match) else pools).name.iloc[0]
        row = pools[pools.name == self.pool_name]
        if row.empty:
            raise InvalidInput(f"no IPPool {self.pool_name!r}; there are {', '.join(pools.name)}")
        self.pools = pools
        self._quiet = True
        try:
            self.mode.value = mode_of(row.ipipmode.iloc[0], row.vxlanmode.iloc[0])
            self.nat.value = bool(row.nat.iloc[0])
        finally:
            self._quiet = False
        show(self.pool_out, pools)

    def _show_paths(self, paths: pd.DataFrame, figure: bool) -> None:
        self.paths = paths
        show(self.routes_out, paths[["block", "owner", "kind", "route"]])
        if figure:
            self._figure = plot.topology(self.lab.topology, paths=paths, node=self.node)
            show(self.fig_out, self._figure)

    # -- actions --------------------------------------------------------------------------------
    def _patch(self, spec: dict) -> str:
        body = json.dumps({"spec": spec}, separators=(",", ":"))
        return self.lab.calicoctl(f"patch ippool {self.pool_name} -p '{body}'")

    def _revert(self, widget, old) -> None:
        self._quiet = True
        try:
            widget.value = old
        finally:
            self._quiet = False

    def _on_mode(self, change) -> None:
        if self._quiet or change["new"] is None:
            return
        if not self.run_action(lambda: self.switch(change["new"]), f"Switching to {change['new']}"):
            self._resync(self.mode, change["old"])

    def _on_nat(self, change) -> None:
        if self._quiet:
            return
        if not self.run_action(lambda: self.set_nat(change["new"]), "Changing natOutgoing"):
            self._resync(self.nat, change["old"])

    def _resync(self, widget, old) -> None:
        """After a refused or failed action the controls show the pool as it is (on replay: as it was)."""
        if self.live:
            try:
                self._read_pool()
                return
            except Exception:  # noqa: BLE001 - the status line already says what failed
                pass
        self._revert(widget, old)

    def set_nat(self, on: bool) -> None:
        out = self._patch({"natOutgoing": bool(on)})
        self._read_pool()
        self.say("ok", f"{out.strip()}: natOutgoing {str(bool(on)).lower()}")

    def switch(self, mode: str, timeout: float = CONVERGE_TIMEOUT) -> pd.DataFrame:
        """Patch the pool to `mode` and follow the node's routes until every other node's block is
        routed the new way (polling the route table, no fixed wait). Returns the final routes."""
        if mode not in SPECS:
            raise InvalidInput(f"mode {mode!r}: choose one of {', '.join(MODES)}")
        if not self.live:
            raise LabError(self.replay_notice(f"Switching to {mode}"))
        blocks = len(self.paths[self.paths.kind != "local"]) if len(self.paths) else 0
        self.say("wait", f"calicoctl patch ippool {self.pool_name}: {SPECS[mode]}")
        out = self._patch(SPECS[mode])
        self._read_pool()
        self.progress.bar_style, self.progress.value = "info", 0
        seen: dict = {"routes": None}

        def follow():  # one look at the route table: shows it, says whether it is the new mode's
            paths = self.lab.pod_routes(self.node)
            good, total = converged(paths, mode, self.lab.topology, self.node, blocks)
            self.progress.max, self.progress.value = max(total, 1), good
            routes = tuple(paths.route)
            if routes != seen["routes"]:  # the table (and the picture) only when the routes changed
                self._show_paths(paths, figure=good == total)
                seen["routes"] = routes
            seen.update(paths=paths, good=good, total=total)
            self.say("wait", f"{out.strip()}; waiting for {self.node}'s routes: {good} of {total} blocks "
                             f"routed as {mode} routes them")
            return bool(total) and good == total

        if not wait_for(follow, timeout=timeout, interval=0.2):
            self.progress.bar_style = "danger"
            self._show_paths(seen["paths"], figure=True)
            raise LabError(f"{self.node}'s routes did not follow {mode} within {timeout:.0f} s: "
                           f"{seen['good']} of {seen['total']} blocks routed as expected")
        paths, good = seen["paths"], seen["good"]
        self.progress.bar_style = "success"
        kinds = ", ".join(sorted(set(paths[paths.kind != "local"].dev.dropna())))
        self.say("ok", f"{mode}: {good} blocks of other nodes routed via {kinds}")
        return paths

    def _pods(self):
        pods = self.lab.pods()
        node_ips = {n.ip for n in self.lab.topology.nodes}
        return pods[(pods.phase == "Running") & pods.ip.notna() & ~pods.ip.isin(node_ips)
                    & (pods.namespace != "kube-system")]

    def _ping(self) -> None:
        topo = self.lab.topology
        pods = self._pods()
        mine = pods[pods.node == self.node]
        others = pods[pods.node.notna() & (pods.node != self.node)]
        if mine.empty or others.empty:
            raise InvalidInput(f"the ping needs a running pod on {self.node} and one on another node "
                               "(chapter 01 creates pod1, pod2 and pod3)")
        subnet = topo.node(self.node).subnet
        far = others[[topo.node(n).subnet != subnet for n in others.node]]
        src, dst = mine.iloc[0], (far if len(far) else others).iloc[0]
        self.say("wait", f"capturing on {self.node} while {src['name']} pings {dst['name']} ({dst.ip})")
        with self.lab.capture(self.node, bpf=PING_BPF, iface=topo.node(self.node).nic, count=20,
                              seconds=15) as cap:
            self.lab.exec(f"{src.namespace}/{src['name']}", f"ping -c 2 -W 2 {dst.ip}", check=False)
        pk = cap.packets
        names = {n.ip: n.name for n in topo.nodes} | dict(zip(pods.ip, pods.name, strict=True))
        self.packets = pk
        cols = [c for c in ("outer_src", "outer_dst", "encap", "vni", "src", "dst", "icmp_type") if c in pk]
        self._flows = plot.flows(pk, names=names, title=f"{src['name']} → {dst['name']} seen on {self.node}") \
            if len(pk) else None
        show(self.capture_out, pk[cols], *([self._flows] if self._flows is not None else []))
        encaps = ", ".join(sorted(set(pk.encap))) if len(pk) else "nothing"
        asked, answered = (int((pk.icmp_type == t).sum()) if len(pk) else 0 for t in (8, 0))
        self.say("ok" if answered else "error",
                 f"{len(pk)} packets on {self.node}'s {topo.node(self.node).nic} ({encaps}): {asked} echo requests, "
                 f"{answered} replies")

    # -- static copy ----------------------------------------------------------------------------
    def static_parts(self) -> list[str]:
        parts = [f"<p>mode: <b>{self.mode.value or '?'}</b>, natOutgoing: {self.nat.value}</p>"]
        if len(self.pools):
            parts.append(table_html(self.pools))
        if len(self.paths):
            parts.append(table_html(self.paths[["block", "owner", "kind", "route"]]))
        if self._figure is not None:
            parts.append(figure_html(self._figure))
        if self.packets is not None and self._flows is not None:
            parts.append(figure_html(self._flows))
        return parts
