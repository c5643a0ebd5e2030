"""The BGP sessions of the lab as a picture: nodes and the router where `plot.topology` puts them,
one line per session (solid when Established), and on each router session the prefixes each side sent.

It draws data only: `sessions` is the table `kanslab.lessons.bgp_sessions(lab)` reads from BIRD on
the nodes and FRR on the router (columns local, peer, kind, established, pfx_received, pfx_sent)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .topology import _positions, _topology_of

_STYLE = {"mesh": ("node-to-node mesh", "#636EFA"), "router": ("with the router", "#EF553B")}


def bgp(lab_or_topology, sessions: pd.DataFrame, title: str | None = None) -> go.Figure:
    topo = _topology_of(lab_or_topology)
    pos, bus = _positions(topo)
    by_ip = {n.ip: n.name for n in topo.nodes}
    router = topo.router.name
    for _, addr in topo.router.interfaces.values():
        by_ip[str(addr.ip)] = router
    fig = go.Figure()
    seen, legend = set(), set()
    # the router's rows first: they carry the prefix counts
    for r in sessions.sort_values("local", key=lambda s: s != router, kind="stable").itertuples():
        a, b = r.local, by_ip.get(r.peer, r.peer)
        if a not in pos or b not in pos or frozenset((a, b)) in seen:
            continue
        seen.add(frozenset((a, b)))
        kind = "router" if router in (a, b) else "mesh"
        label, colour = _STYLE[kind]
        name = label + ("" if r.established else " (not Established)")
        (x0, y0), (x1, y1) = pos[a], pos[b]
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", name=name, legendgroup=name,
                                 showlegend=name not in legend,
                                 line={"color": colour if r.established else "#BBBBBB",
                                       "width": 3 if kind == "router" else 1.5,
                                       "dash": "solid" if r.established else "dot"},
                                 hovertext=f"{a} ↔ {b}: {'Established' if r.established else 'down'}",
                                 hoverinfo="text"))
        legend.add(name)
        if kind == "router" and r.established and pd.notna(r.pfx_received):
            node = a if a != router else b
            nx, ny = pos[node]
            fig.add_annotation(x=nx + (x0 + x1 - 2 * nx) * 0.35, y=ny + (y0 + y1 - 2 * ny) * 0.35,
                               text=f"↑{int(r.pfx_received)} ↓{int(r.pfx_sent)}", showarrow=False,
                               font={"size": 11, "color": colour}, bgcolor="white")
    for sub, (x0, x1) in bus.items():
        fig.add_shape(type="line", x0=x0, x1=x1, y0=0.75, y1=0.75, line={"color": "#DDDDDD", "width": 6})
        fig.add_annotation(x=x0, y=0.62, text=str(sub), showarrow=False, xanchor="left", font={"size": 10})
    names = list(pos)
    fig.add_trace(go.Scatter(x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
                             text=names, textposition="top center", showlegend=False, hoverinfo="text",
                             marker={"size": 22, "symbol": ["square" if n == router else "circle" for n in names],
                                     "color": ["#FFA15A" if n == router else "#00CC96" for n in names]}))
    fig.update_layout(title=title or "BGP sessions (↑ prefixes the router received from the node, ↓ sent to it)",
                      height=420, xaxis={"visible": False}, yaxis={"visible": False, "range": [0.4, 3.3]},
                      plot_bgcolor="white", legend={"orientation": "h", "y": -0.05})
    return fig
