"""`BGPPanel(lab)`: every BGP session of the lab, seen from both ends, and what each peer announces.

Nodes answer with BIRD (`birdcl show protocols`, `birdcl show route`), the router with FRR's JSON
(`vtysh -c 'show bgp summary json'`, `vtysh -c 'show ip route bgp json'`)."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

from .. import parse
from ._base import LabWidget, figure_html, show, table_html

SESSION_COLUMNS = ["host", "peer", "peer_host", "kind", "state", "since", "info"]
ROUTE_COLUMNS = ["host", "peer", "peer_host", "prefix", "gateway", "iface"]
# Calico's BIRD protocol names: Mesh_<ip> (node-to-node mesh), Node_<ip> (node-specific BGPPeer),
# Global_<ip> (global BGPPeer); dots of the address are underscores (calico/node's bird.cfg template)
_KINDS = {"Mesh": "mesh", "Node": "node-specific", "Global": "global"}


def peer_of(protocol: str) -> tuple[str, str] | None:
    """(peer address, kind) from a BIRD protocol name of Calico's, None for others (kernel1, ...)."""
    head, _, rest = str(protocol).partition("_")
    if head not in _KINDS or not rest:
        return None
    return rest.replace("_", "."), _KINDS[head]


def node_sessions(lab, node: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A node's BGP sessions and the routes each peer gave it, from BIRD."""
    names = _names(lab)
    protos = parse.bird_protocols(lab.sh(node, "birdcl show protocols"))
    sess = []
    for r in protos[protos.proto == "BGP"].itertuples():
        peer = peer_of(r.name)
        ip, kind = peer if peer else ("", "")
        sess.append({"host": node, "peer": ip, "peer_host": names.get(ip, ""), "kind": kind, "state": r.state,
                     "since": r.since, "info": r.info})
    routes = parse.bird_routes(lab.sh(node, "birdcl show route"))
    got = []
    for r in routes.itertuples():
        peer = peer_of(r.protocol)
        if peer is None:
            continue
        ip = r.from_peer if isinstance(r.from_peer, str) else peer[0]
        got.append({"host": node, "peer": ip, "peer_host": names.get(ip, ""), "prefix": r.prefix,
                    "gateway": r.gateway, "iface": r.iface})
    return pd.DataFrame(sess, columns=SESSION_COLUMNS), pd.DataFrame(got, columns=ROUTE_COLUMNS)


def router_sessions(lab) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The router's BGP sessions (FRR's summary) and its BGP routes by the peer that gave them."""
    names = _names(lab)
    router = lab.topology.router.name
    summ = parse.frr_bgp_summary(lab.sh(router, "vtysh -c 'show bgp summary json'"))
    sess = [{"host": router, "peer": r.neighbor, "peer_host": names.get(r.neighbor, ""),
             "kind": "dynamic" if r.dynamic else "configured", "state": r.state, "since": r.up_down,
             "info": f"{r.pfxrcd} received, {r.pfxsnt} sent" if r.established else str(r.peer_state or "")}
            for r in summ.itertuples()]
    routes = parse.frr_routes(lab.sh(router, "vtysh -c 'show ip route bgp json'"))
    got = [{"host": router, "peer": r.nexthop, "peer_host": names.get(r.nexthop, ""), "prefix": r.prefix,
            "gateway": r.nexthop, "iface": r.interface} for r in routes.itertuples()]
    return pd.DataFrame(sess, columns=SESSION_COLUMNS), pd.DataFrame(got, columns=ROUTE_COLUMNS)


def _names(lab) -> dict[str, str]:
    topo = lab.topology
    out = {n.ip: n.name for n in topo.nodes}
    out.update({str(a.ip): topo.router.name for _, a in topo.router.interfaces.values()})
    return out


def sessions_figure(topology, sessions: pd.DataFrame, routes: pd.DataFrame):
    """The BGP sessions as a graph: router on top, nodes below, a line per session (green when
    Established on both ends, red otherwise), labelled with the prefixes each end received."""
    import plotly.graph_objects as go

    nodes = [n.name for n in topology.nodes]
    router = topology.router.name
    pos = {name: (i * 1.6, 0.0) for i, name in enumerate(nodes)}
    pos[router] = ((len(nodes) - 1) * 0.8, 1.6)
    fig = go.Figure()
    pairs: dict[frozenset, list] = {}
    for r in sessions.itertuples():
        if r.peer_host in pos:
            pairs.setdefault(frozenset((r.host, r.peer_host)), []).append(r)
    for pair, rows in sorted(pairs.items(), key=lambda kv: sorted(kv[0])):
        a, b = sorted(pair) if len(pair) == 2 else (next(iter(pair)),) * 2
        up = all("Established" in (str(r.info) + str(r.state)) for r in rows)
        (x0, y0), (x1, y1) = pos[a], pos[b]
        bend = 0.0 if router in pair else 0.35 + 0.1 * abs(x1 - x0)  # mesh sessions arc below the nodes
        xs = [x0, (x0 + x1) / 2, x1]
        ys = [y0, (y0 + y1) / 2 - bend, y1]
        got = {h: routes[(routes.host == h) & (routes.peer_host == (b if h == a else a))].prefix.tolist()
               for h in (a, b)}
        hover = "<br>".join([f"{a} ↔ {b}: {'Established' if up else 'not established'}"]
                            + [f"{h} got {', '.join(p) or 'nothing'}" for h, p in got.items()])
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#2ca02c" if up else "#d62728", width=3,
                                 shape="spline"), hovertext=hover, hoverinfo="text", showlegend=False))
        fig.add_trace(go.Scatter(x=[xs[1]], y=[ys[1]], mode="text", hoverinfo="skip", showlegend=False,
                                 text=[f"{len(got[a])}↔{len(got[b])}"], textposition="middle center"))
    xs = [pos[n][0] for n in [router] + nodes]
    ys = [pos[n][1] for n in [router] + nodes]
    ips = {n.name: n.ip for n in topology.nodes}
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", showlegend=False, hoverinfo="skip",
        marker=dict(symbol=["diamond"] + ["square"] * len(nodes), size=[26] + [22] * len(nodes),
                    color=["#1F77B4"] + ["#D3D3D3"] * len(nodes), line=dict(color="#444444", width=1)),
        text=[f"<b>{router}</b> AS {topology.router.as_number}"] + [f"<b>{n}</b><br>{ips[n]}" for n in nodes],
        textposition=["top center"] + ["bottom center"] * len(nodes)))
    fig.update_layout(title="BGP sessions (label: prefixes each end received)", plot_bgcolor="white",
                      xaxis=dict(visible=False, range=[-0.8, max(xs) + 0.8]),
                      yaxis=dict(visible=False, range=[-1.4, 2.2]), height=420, margin=dict(l=20, r=20, t=50, b=20))
    return fig


class BGPPanel(LabWidget):
    title = "kanslab.widgets.BGPPanel"
    needs_live = "Refreshing"

    def __init__(self, lab, nodes: list[str] | None = None):
        super().__init__(lab)
        self.nodes = nodes or [n.name for n in lab.topology.nodes]
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.host_pick = w.Dropdown(options=[lab.topology.router.name] + self.nodes, description="routes of")
        self.sessions_out, self.routes_out, self.fig_out = w.Output(), w.Output(), w.Output()
        self.sessions = pd.DataFrame(columns=SESSION_COLUMNS)
        self.routes = pd.DataFrame(columns=ROUTE_COLUMNS)
        self._fig = None
        self.children = [w.HTML("<b>BGP</b>: sessions of the nodes (BIRD) and the router (FRR), and the routes each "
                                "peer gives"), w.HBox([self.refresh_button, self.host_pick]), self.status,
                         self.sessions_out, self.fig_out, self.routes_out]
        try:
            self.read()
        except Exception as e:  # noqa: BLE001 - shown in the widget
            from ._base import error_text

            self.say("error", error_text(e))
        self.refresh_button.on_click(lambda _b: self.run_action(self.read, "Refreshing"))
        self.host_pick.observe(lambda _c: self._show_routes(), names="value")

    def read(self) -> pd.DataFrame:
        parts = [node_sessions(self.lab, n) for n in self.nodes] + [router_sessions(self.lab)]
        self.sessions = pd.concat([p[0] for p in parts], ignore_index=True)
        self.routes = pd.concat([p[1] for p in parts], ignore_index=True)
        self._fig = sessions_figure(self.lab.topology, self.sessions, self.routes)
        show(self.sessions_out, self.sessions)
        show(self.fig_out, self._fig)
        self._show_routes()
        up = self.sessions["info"].astype(str).str.contains("Established") | self.sessions.state.eq("Established")
        self.say("ok", f"{int(up.sum())} of {len(self.sessions)} session ends Established")
        return self.sessions

    def _show_routes(self) -> None:
        r = self.routes[self.routes.host == self.host_pick.value]
        show(self.routes_out, r if len(r) else f"{self.host_pick.value} has no BGP routes")

    def static_parts(self) -> list[str]:
        parts = [table_html(self.sessions)]
        if self._fig is not None:
            parts.append(figure_html(self._fig))
        parts.append(table_html(self.routes))
        return parts
