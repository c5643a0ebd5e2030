"""`lab.diagnose(...)` as a picture: the hosts along the path left to right, each host's checks
stacked under it (green ok, red fail, grey skip), the failing hop crossed out and its cause written
under the figure. Hover a check for the command output it came from."""

from __future__ import annotations

import textwrap

import pandas as pd
import plotly.graph_objects as go

COLOURS = {"ok": "#2ca02c", "fail": "#d62728", "skip": "#9e9e9e"}


def path(diag: pd.DataFrame) -> go.Figure:
    if not {"step", "host", "check", "result", "detail"} <= set(diag.columns):
        raise ValueError("plot.path draws the DataFrame lab.diagnose(...) returns")
    rows = diag[diag.host != "probe"]
    hosts = list(dict.fromkeys(rows.host))
    x = {h: i for i, h in enumerate(hosts)}
    failed = rows[rows.result == "fail"]
    bad_host = failed.iloc[0].host if len(failed) else None
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(range(len(hosts))), y=[0] * len(hosts), mode="lines",
                             line={"color": "#bbbbbb", "width": 3}, hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(
        x=[x[h] for h in hosts], y=[0] * len(hosts), mode="markers+text", text=hosts, textposition="top center",
        marker={"size": 26, "symbol": ["x" if h == bad_host else "square" for h in hosts],
                "color": [COLOURS["fail"] if h == bad_host else "#1f77b4" for h in hosts]},
        hovertext=hosts, hoverinfo="text", showlegend=False))
    depth: dict[str, int] = {}
    for result in ("ok", "skip", "fail"):
        xs, ys, labels, hover = [], [], [], []
        for r in rows.itertuples():
            depth.setdefault(r.host, 0)
            if r.result != result:
                continue
            depth[r.host] += 1
            xs.append(x[r.host])
            ys.append(-depth[r.host])
            labels.append(f"{r.step}. {r.check}")
            hover.append("<br>".join(textwrap.wrap(f"{r.step}. {r.check}: {r.detail}", 80)))
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers+text", text=labels, textposition="middle right",
                                     marker={"size": 12, "color": COLOURS[result]}, hovertext=hover,
                                     hoverinfo="text", name=result))
    a = diag.attrs
    verdict = a.get("verdict", "?")
    title = f"{a.get('src', '?')} → {a.get('dst', '?')} {a.get('protocol', '')}/{a.get('port', '')}: {verdict}"
    if verdict == "blocked":
        title += f" (layer: {a.get('layer')})"
    probe = a.get("probe")
    if probe and probe != "not run":
        title += f"; real attempt: {probe}" + ("" if a.get("agrees", True) else " (disagrees!)")
    lowest = -max(depth.values(), default=1) - 1
    fig.add_annotation(x=0, y=lowest, xanchor="left", showarrow=False, align="left",
                       text="<br>".join(textwrap.wrap(a.get("cause", ""), 110)))
    fig.update_layout(title=title, xaxis={"visible": False, "range": [-0.3, len(hosts) - 0.2]},
                      yaxis={"visible": False, "range": [lowest - 0.8, 1]}, height=180 + 40 * (-lowest),
                      plot_bgcolor="white", legend={"orientation": "h"})
    return fig
