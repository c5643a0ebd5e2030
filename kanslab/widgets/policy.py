"""`PolicyPlayground(lab)`: edit a policy, apply or delete it, and see who reaches whom before and after."""

from __future__ import annotations

import html

import ipywidgets as w
import pandas as pd

from .. import plot
from ._base import LabWidget, figure_html, show, table_html

EXAMPLE = """\
# A NetworkPolicy (networking.k8s.io/v1) or a Calico policy (projectcalico.org/v3).
# Apply it, then read the heatmap: cells outlined in black changed.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all-ingress
  namespace: default
spec:
  podSelector: {}
  policyTypes: [Ingress]
"""


def changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Where two reachability matrices differ: one row per cell (from, to, before, after).
    Pods present in only one of them are left out (nothing to compare)."""
    rows = [r for r in after.index if r in before.index]
    cols = [c for c in after.columns if c in before.columns]
    out = [{"from": r, "to": c, "before": bool(before.loc[r, c]), "after": bool(after.loc[r, c])}
           for r in rows for c in cols if bool(before.loc[r, c]) != bool(after.loc[r, c])]
    return pd.DataFrame(out, columns=["from", "to", "before", "after"])


def marked_heatmap(after: pd.DataFrame, diff: pd.DataFrame, title: str):
    """`plot.reachability(after)` with each changed cell outlined, its hover saying what it was."""
    import plotly.graph_objects as go

    fig = plot.reachability(after, title=title)
    if len(diff):
        word = {True: "allowed", False: "blocked"}
        fig.add_trace(go.Scatter(
            x=[str(t) for t in diff["to"]], y=[str(f) for f in diff["from"]], mode="markers", name="changed",
            marker=dict(symbol="square-open", size=34, color="black", line=dict(width=3)),
            hovertext=[f"{f} → {t}: {word[b]} → {word[a]}" for f, t, b, a in diff.itertuples(index=False)],
            hoverinfo="text", showlegend=True))
        fig.update_layout(legend=dict(orientation="h", y=-0.05))
    return fig


class PolicyPlayground(LabWidget):
    title = "kanslab.widgets.PolicyPlayground"
    needs_live = "Applying or deleting a policy"

    def __init__(self, lab, manifest: str = EXAMPLE, port: int = 80, protocol: str = "TCP",
                 pods: list[str] | None = None):
        super().__init__(lab)
        self.port, self.protocol, self.pods = port, protocol, pods
        self.editor = w.Textarea(value=manifest, rows=14, layout=w.Layout(width="100%"),
                                 description="", placeholder="YAML: NetworkPolicy, GlobalNetworkPolicy, ...")
        self.apply_button = w.Button(description="Apply", button_style="primary", icon="check")
        self.delete_button = w.Button(description="Delete", button_style="warning", icon="trash")
        self.before_out, self.after_out, self.diff_out = w.Output(), w.Output(), w.Output()
        self.before: pd.DataFrame | None = None
        self.after: pd.DataFrame | None = None
        self.diff = pd.DataFrame(columns=["from", "to", "before", "after"])
        self._figs: list = []
        self.children = [w.HTML(f"<b>Policy playground</b>: reachability on {protocol}/{port}, measured with real "
                                "connections"), self.editor, w.HBox([self.apply_button, self.delete_button]),
                         self.status, w.HBox([self.before_out, self.after_out]), self.diff_out]
        try:
            self.after = self.measure()
            self._draw(None, self.after, "now")
            self.say("ok", f"{len(self.after)} pods, {int(self.after.values.sum())} of {self.after.size} "
                           "connections made")
        except Exception as e:  # noqa: BLE001 - shown in the widget
            from ._base import error_text

            self.say("error", error_text(e))
        self.apply_button.on_click(lambda _b: self.run_action(lambda: self.act("apply"), "Applying a policy"))
        self.delete_button.on_click(lambda _b: self.run_action(lambda: self.act("delete"), "Deleting a policy"))

    def measure(self) -> pd.DataFrame:
        return self.lab.reachability(port=self.port, protocol=self.protocol, pods=self.pods)

    def act(self, verb: str) -> pd.DataFrame:
        """Apply or delete the editor's manifest, then measure again. A manifest the lab refuses
        (bad YAML, a calicoctl/kubectl validation error) raises before anything is measured."""
        self.say("wait", f"{verb}: sending the manifest")
        text = self.editor.value
        out = (self.lab.apply if verb == "apply" else self.lab.delete)(text)
        self.say("wait", f"{out.strip()}\nmeasuring reachability")
        before, after = self.after, self.measure()
        self.before, self.after = before, after
        self._draw(before, after, verb)
        n = len(self.diff)
        self.say("ok", f"{out.strip()}\n{n} connection{'s' if n != 1 else ''} changed")
        return after

    def _draw(self, before, after, verb: str) -> None:
        proto = f"{self.protocol}/{self.port}"
        if before is None:
            fig = plot.reachability(after, title=f"Reachability {proto} now")
            self._figs = [fig]
            show(self.after_out, fig)
            return
        self.diff = changes(before, after)
        b = plot.reachability(before, title=f"Before ({proto})")
        a = marked_heatmap(after, self.diff, f"After {verb} ({proto}): {len(self.diff)} changed")
        self._figs = [b, a]
        show(self.before_out, b)
        show(self.after_out, a)
        show(self.diff_out, self.diff if len(self.diff) else "no connection changed")

    def static_parts(self) -> list[str]:
        parts = [f"<pre>{html.escape(self.editor.value)}</pre>"]
        parts += [figure_html(f) for f in self._figs]
        if self.after is not None:
            parts.append(f"<pre>{plot.truth_table(self.after)}</pre>")
        if len(self.diff):
            parts.append(table_html(self.diff))
        return parts
