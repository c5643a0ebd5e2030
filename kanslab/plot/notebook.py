"""Make plotly figures show in JupyterLab, in exported HTML (nbconvert) and on Binder, offline.

Plotly's default in a Jupyter kernel is the `plotly_mimetype` renderer alone: JupyterLab draws it
with the jupyterlab-plotly extension shipped in plotly's wheel, but nbconvert's HTML exporter drops
that mimetype ("not able to be represented"). `use_notebook_renderer()` adds a text/html copy
of every figure and, once per notebook, plotly.js itself (inline, about 5 MB: no CDN, so the
exported page works with no network). `connected=True` loads plotly.js from its CDN instead:
small notebooks, but the exported page then needs the internet.
"""

from __future__ import annotations

import plotly.io as pio
from plotly.io._base_renderers import NotebookRenderer

NAME = "kanslab"


class OfflineNotebookRenderer(NotebookRenderer):
    """Plotly's `notebook` renderer without MathJax from a CDN in every figure (the course has no
    LaTeX in its plots, and an exported page should not reach for the network)."""

    def to_mimebundle(self, fig_dict):
        html = pio.to_html(fig_dict, config=self.config, auto_play=self.auto_play,
                           include_plotlyjs=self.include_plotlyjs, include_mathjax=False,
                           full_html=False, default_width="100%", default_height=525, validate=False)
        return {"text/html": html}


def use_notebook_renderer(connected: bool = False) -> str:
    """Set plotly's default renderer for a course notebook; returns the renderer string set.

    JupyterLab (and Binder) pick the plotly mimetype; nbconvert's HTML picks the text/html copy."""
    name = f"{NAME}_connected" if connected else NAME
    if name not in pio.renderers:
        pio.renderers[name] = OfflineNotebookRenderer(connected=connected)
    pio.renderers.default = f"plotly_mimetype+{name}"
    return pio.renderers.default
