"""A Grafana dashboard drawn with plotly: `lessons.dashboard(...)`'s rows, one small chart per panel.

Grafana draws a "graph"/"timeseries" panel as lines and a "singlestat"/"gauge" panel as its last
value; here every panel is a line chart over the range (the single value is its last point, named in
the panel's title), so a panel that moved shows how it moved. Each series keeps one colour across the
panels (a node's instance is the same colour everywhere).
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

STAT_TYPES = {"singlestat", "gauge", "stat"}


def _fmt(v: float) -> str:
    return "NaN" if v != v else (f"{v:.0f}" if float(v).is_integer() else f"{v:.3g}")


def dashboard(panels: pd.DataFrame, title: str = "", cols: int = 3, height_per_row: int = 210) -> go.Figure:
    """One subplot per panel of `panels` (columns panel, type, series, timestamp, value), in order."""
    names = list(dict.fromkeys(panels.panel))
    if not names:
        return go.Figure(layout={"title": title or "no panels"})
    titles = []
    for name in names:
        p = panels[(panels.panel == name) & panels.value.notna()]
        if p.empty:
            titles.append(f"{name}: no data")
        elif p.type.iloc[0] in STAT_TYPES:
            last = p.sort_values("timestamp").groupby("series").value.last()
            titles.append(f"{name}: " + ", ".join(_fmt(v) for v in last) if len(last) <= 2 else name)
        else:
            titles.append(name)
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=min(0.5 / rows, 0.12),
                        horizontal_spacing=0.06)
    palette = qualitative.Plotly + qualitative.D3
    colours: dict[str, str] = {}
    for i, name in enumerate(names):
        p = panels[(panels.panel == name) & panels.value.notna()]
        for series, s in p.groupby("series", sort=True):
            first = series not in colours
            colours.setdefault(series, palette[len(colours) % len(palette)])
            fig.add_trace(go.Scatter(x=s.timestamp, y=s.value, mode="lines", name=series, legendgroup=series,
                                     showlegend=first, line={"color": colours[series], "shape": "hv"}),
                          row=i // cols + 1, col=i % cols + 1)
    fig.update_annotations(font_size=11)
    fig.update_layout(title=title, height=120 + rows * height_per_row, legend={"font": {"size": 10}},
                      margin={"t": 90})
    return fig
