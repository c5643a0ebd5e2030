"""The lab's topology with, for one node, where each remote pod block goes (tunnel, NIC or VXLAN).

`block_routes()` reads a parsed route table (`kanslab.parse.ip_route` or `route_n`) into one row
per pod block: the owner node, the next hop, the device and the kind of path — what Calico
programmed. `topology()` draws the router, the subnets and the nodes, and that table as paths
from the chosen node to each block, one legend entry per kind of path. It draws data only:
given a Lab it asks the Lab for the table (`Lab.pod_routes`), never a host.
"""

from __future__ import annotations

import ipaddress
import math

import pandas as pd
import plotly.graph_objects as go

from ..topology import Topology

# kind -> (legend label, colour, line dash); the label may name the node's NIC
KINDS = {
    "ipip": ("IPIP via tunl0", "#EF553B", "dash"),
    "vxlan": ("VXLAN via vxlan.calico", "#AB63FA", "dash"),
    "direct": ("direct via {nic} (no encapsulation)", "#00CC96", "solid"),
    "router": ("via the router (no encapsulation)", "#FFA15A", "dot"),
    "local": ("own block (blackhole)", "#7F7F7F", "solid"),
}
KIND_ORDER = ["ipip", "vxlan", "direct", "router", "local"]
BLOCK_COLUMNS = ["block", "owner", "kind", "gateway", "dev", "proto", "route"]

_NODE_Y, _BUS_Y, _ROUTER_Y, _BLOCK_Y = 1.0, 1.8, 2.8, 0.3


def _topology_of(obj) -> Topology:
    if isinstance(obj, Topology):
        return obj
    topo = getattr(obj, "topology", None)
    if isinstance(topo, Topology):
        return topo
    raise TypeError(f"expected a kanslab.Lab or a Topology, not {type(obj).__name__}")


def _route_rows(routes: pd.DataFrame) -> list[dict]:
    """ip_route or route_n rows -> dicts with dst, type, gateway, dev, proto."""
    def val(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else v

    rows = []
    if {"dst", "dev", "gateway"} <= set(routes.columns):  # kanslab.parse.ip_route
        for r in routes.to_dict("records"):
            rows.append({"dst": r["dst"], "type": val(r.get("type")) or "unicast", "gateway": val(r.get("gateway")),
                         "dev": val(r.get("dev")), "proto": val(r.get("proto"))})
    elif "prefix" in routes.columns and "iface" in routes.columns:  # kanslab.parse.route_n
        for r in routes.to_dict("records"):
            gw = val(r.get("gateway"))
            # `route -n` shows a blackhole as iface `*` (only `ip route` names the type)
            rows.append({"dst": r["prefix"], "type": "blackhole" if r["iface"] == "*" else "unicast",
                         "gateway": None if gw in (None, "0.0.0.0") else gw,
                         "dev": None if r["iface"] == "*" else r["iface"], "proto": None})
    else:
        raise ValueError("routes must be a DataFrame from kanslab.parse.ip_route or kanslab.parse.route_n")
    return rows


def _blocks_map(blocks) -> dict[str, str]:
    """block -> node from {node: block}, {node: [blocks]} or {block: node}."""
    out: dict[str, str] = {}
    for k, v in (blocks or {}).items():
        for item in ([v] if isinstance(v, str) else list(v)):
            if "/" in str(k):
                out[str(k)] = str(item)
            else:
                out[str(item)] = str(k)
    return out


def block_routes(routes: pd.DataFrame, topology, node: str = "k8s-w1", blocks=None) -> pd.DataFrame:
    """One row per pod block in `node`'s route table: where Calico sends it.

    `kind` is ipip (dev tunl0), vxlan (dev vxlan.calico), direct (the NIC, next hop a node),
    router (the NIC, next hop the router: Direct mode across subnets) or local (the node's own
    block, a blackhole). `owner` is the node the block lives on: from `blocks` ({node: block},
    {block: node}) when given, else the node whose address is the next hop (unknown for VXLAN
    and router next hops without `blocks`). Per-pod /32 routes on cali* devices are left out.
    """
    topo = _topology_of(topology)
    me = topo.node(node)
    pod_cidr = topo.cluster.pod_cidr
    owners = _blocks_map(blocks)
    node_by_ip = {n.ip: n.name for n in topo.nodes}
    router_ips = {str(a.ip) for _, a in topo.router.interfaces.values()}
    out = []
    for r in _route_rows(routes):
        dst = r["dst"]
        if not dst or dst == "default":
            continue
        net = ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False)
        if net.version != pod_cidr.version or not net.subnet_of(pod_cidr):
            continue
        dev, gw = r["dev"], r["gateway"]
        if r["type"] == "blackhole":
            kind, owner = "local", node
        elif dev and dev.startswith("cali"):
            continue  # a local pod's /32
        elif dev == "tunl0":
            kind = "ipip"
        elif dev == "vxlan.calico":
            kind = "vxlan"
        elif gw in router_ips or (gw and gw == str(me.gateway)):
            kind = "router"
        else:
            kind = "direct"
        if r["type"] != "blackhole":
            owner = owners.get(str(net)) or node_by_ip.get(gw)
        parts = [("blackhole " if r["type"] == "blackhole" else "") + str(net)]
        if gw:
            parts.append(f"via {gw}")
        if dev:
            parts.append(f"dev {dev}")
        if r["proto"]:
            parts.append(f"proto {r['proto']}")
        out.append({"block": str(net), "owner": owner, "kind": kind, "gateway": gw, "dev": dev,
                    "proto": r["proto"], "route": " ".join(parts)})
    df = pd.DataFrame(out, columns=BLOCK_COLUMNS)
    return df.sort_values("block", key=lambda s: s.map(lambda b: ipaddress.ip_network(b))).reset_index(drop=True)


def _positions(topo: Topology) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """Node positions, and each subnet's bus (x from, x to); subnets left to right."""
    pos: dict[str, tuple[float, float]] = {}
    bus: dict[str, tuple[float, float]] = {}
    x = 0.0
    for sub in topo.subnets:
        members = [n for n in topo.nodes if n.subnet == sub]
        if not members:
            continue
        xs = [x + 1.7 * i for i in range(len(members))]
        for n, xi in zip(members, xs, strict=True):
            pos[n.name] = (xi, _NODE_Y)
        bus[sub] = (xs[0] - 0.6, xs[-1] + 0.6)
        x = xs[-1] + 2.6
    centres = [(a + b) / 2 for a, b in bus.values()] or [0.0]
    pos[topo.router.name] = (sum(centres) / len(centres), _ROUTER_Y)
    return pos, bus


def _arc(p0, p1, cy: float, n: int = 24) -> tuple[list[float], list[float]]:
    """A quadratic Bezier from p0 to p1 with its control point at height cy, halfway across."""
    (x0, y0), (x1, y1) = p0, p1
    cx = (x0 + x1) / 2
    xs, ys = [], []
    for i in range(n + 1):
        t = i / n
        xs.append((1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t ** 2 * x1)
        ys.append((1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t ** 2 * y1)
    return xs, ys


def topology(lab_or_topology, routes: pd.DataFrame | None = None, node: str = "k8s-w1", blocks=None,
             title: str | None = None, paths: pd.DataFrame | None = None) -> go.Figure:
    """The lab drawn as router, subnets and nodes, with a path from `node` to each pod block,
    coloured by how Calico sends it: IPIP via tunl0, VXLAN via vxlan.calico, directly via the NIC,
    or to the router.

    `paths`: a `block_routes` table (what `Lab.pod_routes(node)` returns). Or `routes`, a parsed
    route table of `node` (`kanslab.parse.ip_route` or `route_n`), with `blocks` ({node: block} or
    {block: node}) placing VXLAN and router-bound blocks under their nodes. Given a Lab and no
    `paths` or `blocks`, the Lab reads them (`lab.pod_routes(node, routes)`); given a Topology and
    no table, only the lab is drawn.
    """
    topo = _topology_of(lab_or_topology)
    lab = None if isinstance(lab_or_topology, Topology) else lab_or_topology
    if paths is None and lab is not None:
        if blocks is None:
            paths = lab.pod_routes(node, routes)
        else:
            paths = block_routes(lab.routes(node) if routes is None else routes, topo, node, blocks)
    elif paths is None and routes is not None:
        paths = block_routes(routes, topo, node, blocks)
    pos, bus = _positions(topo)
    me = topo.node(node) if paths is not None else None
    fig = go.Figure()

    # wires: nodes and router onto their subnets' buses
    wx, wy = [], []
    for n in topo.nodes:
        x, y = pos[n.name]
        wx += [x, x, None]
        wy += [y, _BUS_Y, None]
    rx, ry = pos[topo.router.name]
    for sub, _addr in topo.router.interfaces.values():
        if sub in bus:
            bx = min(max(rx, bus[sub][0]), bus[sub][1])
            wx += [rx, bx, bx, None]
            wy += [ry, ry - 0.5, _BUS_Y, None]
    fig.add_trace(go.Scatter(x=wx, y=wy, mode="lines", line=dict(color="#BBBBBB", width=1.5),
                             hoverinfo="skip", showlegend=False, name="wires"))
    sx, sy, stext, sxt = [], [], [], []
    for sub, (a, b) in bus.items():
        sx += [a, b, None]
        sy += [_BUS_Y, _BUS_Y, None]
        stext.append(f"{sub} {topo.subnets[sub]}")
        sxt.append(a)
    fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", line=dict(color="#636363", width=5), name="subnets",
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=sxt, y=[_BUS_Y + 0.12] * len(sxt), mode="text", text=stext, textposition="top right",
                             hoverinfo="skip", showlegend=False, name="subnet names"))

    # router and its IDC nets
    raddrs = ", ".join(str(a) for _, a in topo.router.interfaces.values())
    idc = ", ".join(str(a) for a in topo.router.idc_networks.values())
    fig.add_trace(go.Scatter(
        x=[rx], y=[ry], mode="markers+text", name="router", showlegend=False,
        marker=dict(symbol="diamond", size=26, color="#1F77B4"), text=[f"<b>{topo.router.name}</b>"],
        textposition="top center",
        hovertext=[f"{topo.router.name} AS {topo.router.as_number}<br>{raddrs}<br>IDC: {idc}"], hoverinfo="text"))
    if topo.router.idc_networks:
        fig.add_trace(go.Scatter(
            x=[rx + 1.3], y=[ry], mode="markers+text", name="IDC networks", showlegend=False,
            marker=dict(symbol="square", size=14, color="#9EDAE5"), textposition="middle right",
            text=["<br>".join(str(a.network) for a in topo.router.idc_networks.values())], hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=[rx, rx + 1.3], y=[ry, ry], mode="lines", line=dict(color="#9EDAE5", width=2),
                                 hoverinfo="skip", showlegend=False, name="IDC link"))

    # nodes
    nx = [pos[n.name][0] for n in topo.nodes]
    ny = [pos[n.name][1] for n in topo.nodes]
    fig.add_trace(go.Scatter(
        x=nx, y=ny, mode="markers+text", name="nodes", showlegend=False,
        marker=dict(symbol="square", size=[30 if me and n.name == me.name else 22 for n in topo.nodes],
                    color=["#FECB52" if me and n.name == me.name else "#D3D3D3" for n in topo.nodes],
                    line=dict(color="#444444", width=1)),
        text=[f"<b>{n.name}</b><br>{n.ip}" for n in topo.nodes], textposition="middle right",
        hovertext=[f"{n.name} {n.interface} on {n.subnet} ({n.nic})" for n in topo.nodes], hoverinfo="text"))

    low = _NODE_Y - 0.25  # no paths: nothing below the nodes
    if paths is not None:
        low = _draw_paths(fig, paths, topo, pos, me)
    fig.update_layout(
        title=title or (f"Where {node} sends each pod block" if paths is not None else f"Lab topology: {topo.name}"),
        showlegend=True, legend=dict(orientation="h", yanchor="top", y=-0.02, x=0),
        xaxis=dict(visible=False, range=[min(p[0] for p in pos.values()) - 0.8,
                                         max(p[0] for p in pos.values()) + 1.6]),
        yaxis=dict(visible=False, range=[low - 0.45, 3.4]),
        plot_bgcolor="white", height=int(430 + 90 * (_BLOCK_Y - low)), margin=dict(l=20, r=20, t=50, b=40))
    return fig


def _draw_paths(fig: go.Figure, df: pd.DataFrame, topo: Topology, pos, me) -> float:
    """Adds the paths and block markers; returns the lowest height used."""
    x0, y0 = pos[me.name]
    rx, ry = pos[topo.router.name]
    # block markers: under their owner node; blocks whose owner is unknown in a row at the bottom
    per_owner: dict[str, int] = {}
    bpos: dict[str, tuple[float, float]] = {}
    unknown = 0
    for r in df.itertuples():
        if r.owner in pos:
            k = per_owner.get(r.owner, 0)
            per_owner[r.owner] = k + 1
            bpos[r.block] = (pos[r.owner][0], _BLOCK_Y - 0.35 * k)
        else:
            bpos[r.block] = (min(p[0] for p in pos.values()) + 1.7 * unknown, -1.1)
            unknown += 1
    for kind in KIND_ORDER:
        sub = df[df.kind == kind]
        if sub.empty:
            continue
        label, colour, dash = KINDS[kind]
        label = label.format(nic=me.nic)
        lx, ly, hov = [], [], []
        for r in sub.itertuples():
            bx, by = bpos[r.block]
            if kind == "local":
                xs, ys = [x0, bx], [y0, by]
            elif kind == "router":
                xs, ys = [x0, rx], [y0, ry]  # the packet is handed to the router, which must know the block
                if r.owner in pos:
                    ax, ay = _arc((rx, ry), (bx, by + 0.08), ry)
                    xs, ys = xs + ax[1:], ys + ay[1:]
            else:
                # arcs stay above the block labels; farther blocks dip lower, so arcs do not overlap
                span = abs(bx - x0) / 1.7
                xs, ys = _arc((x0, y0 - 0.12), (bx, by + 0.1), by + 0.3 - 0.12 * span)
            lx += xs + [None]
            ly += ys + [None]
            hov += [r.route] * len(xs) + [None]
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", name=label, legendgroup=kind,
                                 line=dict(color=colour, width=3, dash=dash), hovertext=hov, hoverinfo="text"))
        fig.add_trace(go.Scatter(
            x=[bpos[b][0] for b in sub.block], y=[bpos[b][1] for b in sub.block], mode="markers+text",
            name=f"{label}: blocks", legendgroup=kind, showlegend=False,
            marker=dict(symbol="square", size=14, color=colour), text=list(sub.block), textposition="bottom center",
            hovertext=list(sub.route), hoverinfo="text"))
    return min([_BLOCK_Y] + [y for _, y in bpos.values()])
