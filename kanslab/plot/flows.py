"""A packet capture as a sequence picture: one lifeline per address, one arrow per packet.

The inner packet (pod to pod) is the arrow; when it travelled encapsulated, the outer header
(node to node) is drawn as a wide band under it in the encapsulation's colour, so the picture
shows at a glance which stretch of the path the tunnel covers. Input is the DataFrame of
`kanslab.parse.pcap` (or `lab.capture(...).packets`).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

ENCAP = {  # encap -> (inner label, outer label, colour)
    "none": ("plain IP (no encapsulation)", None, "#00CC96"),
    "ipip": ("IPIP: inner packet (pod to pod)", "IPIP: outer header, protocol 4 (node to node)", "#EF553B"),
    "vxlan": ("VXLAN: inner packet (pod to pod)", "VXLAN: outer header, UDP 4789 (node to node)", "#AB63FA"),
}
PROTO_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 4: "IPIP"}
ICMP_NAMES = {0: "echo reply", 8: "echo request", 3: "unreachable", 11: "time exceeded"}
_KEY = ["outer_src", "outer_dst", "encap", "src", "dst", "proto", "sport", "dport", "tcp_flags", "icmp_type"]


def _na(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _what(r) -> str:
    """`TCP 80 S`, `ICMP echo request`, `UDP 53`: the packet in a few words."""
    proto = None if _na(r["proto"]) else int(r["proto"])
    name = PROTO_NAMES.get(proto, f"proto {proto}")
    if proto == 1 and not _na(r["icmp_type"]):
        return f"ICMP {ICMP_NAMES.get(int(r['icmp_type']), 'type %d' % int(r['icmp_type']))}"
    if proto in (6, 17) and not _na(r["dport"]):
        port = min(int(r["sport"]), int(r["dport"])) if not _na(r["sport"]) else int(r["dport"])
        flags = f" {r['tcp_flags']}" if proto == 6 and isinstance(r["tcp_flags"], str) else ""
        return f"{name} {port}{flags}"
    return name


def _names_of(names) -> dict[str, str]:
    """Address -> name from a dict, a Topology or a Lab (node, router and pod addresses)."""
    if names is None:
        return {}
    if isinstance(names, dict):
        return {str(k): str(v) for k, v in names.items()}
    from ..topology import Topology

    topo = names if isinstance(names, Topology) else getattr(names, "topology", None)
    out: dict[str, str] = {}
    if isinstance(topo, Topology):
        out.update({n.ip: n.name for n in topo.nodes})
        out.update({str(a.ip): topo.router.name for _, a in topo.router.interfaces.values()})
        out.update({str(a.ip): f"{topo.router.name} {dev}" for dev, a in topo.router.idc_networks.items()})
    if hasattr(names, "pods"):
        pods = names.pods()
        out.update({ip: name for ip, name in zip(pods.ip, pods.name, strict=True) if isinstance(ip, str)})
    return out


def _collapse(df: pd.DataFrame) -> pd.DataFrame:
    """One row per packet: the same headers seen again within 10 ms (a router capturing on `any`
    sees a forwarded packet coming in and going out) become one row with `seen` = 2."""
    rows, last, last_t = [], None, None
    for r in df.to_dict("records"):
        key = tuple(None if _na(r[c]) else r[c] for c in _KEY)
        if rows and key == last and r["time"] - last_t <= 0.01:
            rows[-1]["seen"] += 1
        else:
            rows.append({**r, "seen": 1})
        last, last_t = key, r["time"]
    return pd.DataFrame(rows)


def flows(packets: pd.DataFrame, names=None, max_packets: int = 200, dedupe: bool = True,
          title: str | None = None) -> go.Figure:
    """A sequence picture of a capture: lifelines for the addresses (each pod next to its node),
    an arrow per packet from inner source to inner destination, and under it, for encapsulated
    packets, a band from outer source to outer destination coloured by encapsulation.

    `names`: address -> label (dict), or a Topology / Lab to name nodes, router and pods.
    `dedupe`: fold the in-and-out copies a router's `any` capture holds of one forwarded packet.
    """
    df = packets[packets["src"].notna() & packets["dst"].notna()].sort_values("time", kind="stable")
    df = _collapse(df) if dedupe and len(df) else df.assign(seen=1)
    total = len(df)
    df = df.head(max_packets).reset_index(drop=True)
    label = _names_of(names)
    order: list[str] = []  # lifelines in order of first appearance along a path: pod, node, node, pod
    for r in df.itertuples():
        for a in (r.src, r.outer_src, r.outer_dst, r.dst):
            if isinstance(a, str) and a not in order:
                order.append(a)
    x = {a: i for i, a in enumerate(order)}
    t0 = float(df["time"].iloc[0]) if len(df) else 0.0
    n = len(df)
    fig = go.Figure()
    # lifelines
    lx, ly = [], []
    for a in order:
        lx += [x[a], x[a], None]
        ly += [-0.6, n - 0.4, None]
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", line=dict(color="#CCCCCC", width=1, dash="dot"),
                             hoverinfo="skip", showlegend=False, name="lifelines"))
    for enc in ("ipip", "vxlan", "none"):
        sub = df[df["encap"] == enc] if n else df
        if sub.empty:
            continue
        inner_label, outer_label, colour = ENCAP[enc]
        hover = []
        for i, r in sub.iterrows():
            h = (f"#{i + 1} +{float(r['time']) - t0:.6f} s<br>{r['src']} → {r['dst']}  {_what(r)}"
                 f"<br>{int(r['length'])} bytes on the wire")
            if enc != "none":
                vni = "" if _na(r["vni"]) else f", VNI {int(r['vni'])}"
                h += f"<br>outer {r['outer_src']} → {r['outer_dst']} ({enc}{vni})"
            if r["seen"] > 1:
                h += f"<br>seen {r['seen']}× (in and out of the capturing host)"
            hover.append(h)
        if outer_label:
            ox, oy = [], []
            for i, r in sub.iterrows():
                ox += [x[r["outer_src"]], x[r["outer_dst"]], None]
                oy += [i, i, None]
            fig.add_trace(go.Scatter(x=ox, y=oy, mode="lines", name=outer_label, legendgroup=f"{enc}-outer",
                                     line=dict(color=colour, width=14), opacity=0.3, hoverinfo="skip"))
        ix, iy, ihover = [], [], []
        for (i, r), h in zip(sub.iterrows(), hover, strict=True):
            ix += [x[r["src"]], x[r["dst"]], None]
            iy += [i, i, None]
            ihover += [h, h, None]
        fig.add_trace(go.Scatter(x=ix, y=iy, mode="lines", name=inner_label, legendgroup=enc,
                                 line=dict(color=colour, width=2.5), hovertext=ihover, hoverinfo="text"))
        # arrow heads at the destination, and what the packet is halfway along
        heads = [("triangle-right" if x[r["dst"]] >= x[r["src"]] else "triangle-left") for _, r in sub.iterrows()]
        fig.add_trace(go.Scatter(
            x=[x[r["dst"]] for _, r in sub.iterrows()], y=list(sub.index), mode="markers",
            marker=dict(symbol=heads, size=11, color=colour), name=f"{inner_label}: heads", legendgroup=enc,
            showlegend=False, hovertext=hover, hoverinfo="text"))
        fig.add_trace(go.Scatter(
            x=[(x[r["src"]] + x[r["dst"]]) / 2 for _, r in sub.iterrows()], y=list(sub.index), mode="text",
            text=[_what(r) for _, r in sub.iterrows()], textposition="top center", textfont=dict(size=10),
            name=f"{inner_label}: labels", legendgroup=enc, showlegend=False, hoverinfo="skip"))
    ticks = [f"<b>{label[a]}</b><br>{a}" if a in label else a for a in order]
    shown = f"{n} of {total} packets" if total > n else f"{n} packets"
    encapsulated = n and (df["encap"] != "none").any()
    default_title = (f"Capture as a sequence: {shown}; bands are outer (node) headers, arrows inner packets"
                     if encapsulated else f"Capture as a sequence: {shown}")
    fig.update_layout(
        title=title or default_title,
        xaxis=dict(tickmode="array", tickvals=list(range(len(order))), ticktext=ticks, side="top",
                   range=[-0.6, max(len(order) - 0.4, 0.6)], showgrid=False, zeroline=False),
        yaxis=dict(autorange="reversed", title="packet #", showgrid=False, zeroline=False,
                   tickmode="array", tickvals=list(range(n)), ticktext=[str(i + 1) for i in range(n)]),
        legend=dict(orientation="h", yanchor="top", y=-0.02, x=0),
        plot_bgcolor="white", height=min(max(360, 26 * n + 220), 4000), margin=dict(l=50, r=20, t=110, b=40))
    if not n:
        fig.add_annotation(text="no IP packets in this capture", showarrow=False, x=0, y=0)
    return fig
