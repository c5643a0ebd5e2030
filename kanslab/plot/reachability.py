"""Reachability matrices (from `lab.reachability()`): a heatmap, and the upstream e2e truth table as text.

Rows are clients ("from"), columns servers ("to"). In the text table `.` means the connection
was made and `X` that it was not, as in Kubernetes' own network-policy e2e tests.
"""

from __future__ import annotations

import pandas as pd

ALLOWED, BLOCKED = ".", "X"


def _title(df: pd.DataFrame) -> str:
    proto, port = df.attrs.get("protocol"), df.attrs.get("port")
    return f"{proto}/{port}" if proto and port else ""


def truth_table(df: pd.DataFrame, title: str | None = None) -> str:
    """The matrix as text: a `TCP/80` line (when known), then `from\\to` and one mark per server."""
    head = _title(df) if title is None else title
    width = max([len("from\\to")] + [len(str(i)) for i in df.index])
    cols = [str(c) for c in df.columns]
    lines = [head] if head else []
    lines.append("from\\to".ljust(width) + " " + " ".join(cols))
    for frm, row in df.iterrows():
        marks = [(ALLOWED if bool(v) else BLOCKED).ljust(len(c)) for v, c in zip(row.tolist(), cols, strict=True)]
        lines.append(str(frm).ljust(width) + " " + " ".join(marks).rstrip())
    return "\n".join(lines)


def from_truth_table(text: str) -> pd.DataFrame:
    """Read a table `truth_table` printed (an optional `TCP/80` line, the header, rows of `.`/`X`)
    back into a DataFrame of bool: the way to write down the matrix you expect."""
    rows = [ln.split() for ln in text.strip().splitlines() if ln.strip()]
    if rows and len(rows[0]) == 1 and "/" in rows[0][0] and len(rows) > 1 and len(rows[1]) > 1:
        rows = rows[1:]
    if not rows or len(rows[0]) < 2:
        raise ValueError("a truth table starts with a header line: from\\to followed by the servers")
    cols = rows[0][1:]
    data, index = [], []
    for r in rows[1:]:
        if len(r) != len(cols) + 1 or any(m not in (ALLOWED, BLOCKED) for m in r[1:]):
            raise ValueError(f"row {' '.join(r)!r}: expected a client and {len(cols)} marks of '.' or 'X'")
        index.append(r[0])
        data.append([m == ALLOWED for m in r[1:]])
    return pd.DataFrame(data, index=pd.Index(index, name="from"), columns=pd.Index(cols, name="to"), dtype=bool)


def reachability(df: pd.DataFrame, title: str | None = None):
    """A plotly heatmap: green where the client (row) reached the server (column), red where not."""
    import plotly.graph_objects as go

    z = df.astype(int).values
    text = [[ALLOWED if v else BLOCKED for v in row] for row in z]
    hover = [[f"{f} → {t}: {'allowed' if v else 'blocked'}" for t, v in zip(df.columns, row, strict=True)]
             for f, row in zip(df.index, z, strict=True)]
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in df.columns], y=[str(i) for i in df.index], zmin=0, zmax=1,
        colorscale=[[0, "#d62728"], [0.5, "#d62728"], [0.5, "#2ca02c"], [1, "#2ca02c"]],
        text=text, texttemplate="%{text}", hovertext=hover, hoverinfo="text", xgap=2, ygap=2,
        colorbar=dict(tickvals=[0.25, 0.75], ticktext=["blocked", "allowed"], len=0.5)))
    name = _title(df)
    fig.update_layout(title=title or f"Reachability{' ' + name if name else ''} (rows: from, columns: to)",
                      xaxis=dict(title="to (server)", side="top"), yaxis=dict(title="from (client)",
                                                                            autorange="reversed"),
                      width=140 + 48 * len(df.columns), height=160 + 40 * len(df.index), margin=dict(t=110))
    return fig
