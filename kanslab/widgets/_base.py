"""What every kanslab widget shares: a replay guard, inline errors, and a static copy for exported HTML.

Replay: a replayed lab answers only the calls its recording holds, so a widget makes its lab calls
while it first renders (those are in the chapter's transcript) and none after; its actions then
say they need a live lab instead of calling. Errors of an action (a refused manifest, a lab that
is down) show in the widget in one line, never as a traceback in the log console.

Exported HTML: nbconvert renders a widget only with its widget manager from a CDN, and offline not
at all. So a widget's display is two outputs: the widget view, and a static HTML copy of what it
shows (its tables and figure), kept current through a display id. A style rule hides the copy
wherever the live widget rendered (JupyterLab, or an export whose widget manager loaded).
"""

from __future__ import annotations

import html
import traceback

import ipywidgets as w
import pandas as pd

from ..backends.base import Replayed
from ..errors import KanslabError

WIDGET_CLASS = "kanslab-widget"
STATIC_CLASS = "kanslab-static"
# the copy hides where a cell also holds the rendered widget (JupyterLab: .jp-Cell, classic: .cell)
_STYLE = (f"<style>.jp-Cell:has(.{WIDGET_CLASS}) .jp-OutputArea-child:has(.{STATIC_CLASS}),"
          f".cell:has(.{WIDGET_CLASS}) .output_area:has(.{STATIC_CLASS}){{display:none}}</style>")
_plotlyjs_sent = False


def figure_html(fig) -> str:
    """A figure as HTML for the static copy. plotly.js comes from the page when the chapter's
    renderer put it there (`plot.use_notebook_renderer()`), else it goes in once per kernel."""
    global _plotlyjs_sent
    import plotly.io as pio

    from ..plot.notebook import NAME

    have = NAME in str(pio.renderers.default) or _plotlyjs_sent
    _plotlyjs_sent = True
    return pio.to_html(fig, include_plotlyjs=not have, include_mathjax=False, full_html=False,
                       default_width="100%", validate=False)


def table_html(df: pd.DataFrame, max_rows: int = 40) -> str:
    return df.to_html(max_rows=max_rows, border=0, classes="dataframe", na_rep="")


def message(kind: str, text: str) -> str:
    """One line of HTML for the status area: kind is ok, info, wait or error."""
    colour = {"ok": "#2ca02c", "info": "#555555", "wait": "#1f77b4", "error": "#d62728"}[kind]
    body = html.escape(text).replace("\n", "<br>")
    return f'<div style="color:{colour};white-space:pre-wrap;font-family:var(--jp-code-font-family,monospace)">{body}</div>'


def error_text(e: BaseException) -> str:
    """What a user needs of an error: the tool's own message (stderr of calicoctl/kubectl)."""
    stderr = getattr(e, "stderr", None)
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    if stderr and str(stderr).strip():
        return str(stderr).strip()
    return str(e) if isinstance(e, KanslabError) else f"{type(e).__name__}: {e}"


class LabWidget(w.VBox):
    """A VBox bound to a Lab, with a status line, a replay guard and a static copy."""

    title = "kanslab widget"
    needs_live = "this action"

    def __init__(self, lab, **kwargs):
        super().__init__(**kwargs)
        self.lab = lab
        self.live = not isinstance(lab.backend, Replayed)
        self.status = w.HTML()
        self._static_handle = None
        self.add_class(WIDGET_CLASS)

    # -- actions --------------------------------------------------------------------------------
    def replay_notice(self, what: str | None = None) -> str:
        src = getattr(self.lab.backend, "replayed_from", "a recording")
        return (f"{what or self.needs_live} needs a live lab: this is a replay of {src}, which answers only "
                "the calls it recorded. Start the embedded lab (kanslab.connect('local'), as root) to use it.")

    def run_action(self, fn, what: str | None = None) -> bool:
        """Run `fn()` unless the lab is a replay; its errors go to the status line. True if it ran cleanly."""
        if not self.live:
            self.say("info", self.replay_notice(what))
            return False
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a widget shows every failure inline, never a traceback
            self.say("error", error_text(e))
            if not isinstance(e, KanslabError):
                self.status.value += f"<details><summary>details</summary><pre>{html.escape(traceback.format_exc())}</pre></details>"
            return False
        self.refresh_static()
        return True

    def say(self, kind: str, text: str) -> None:
        self.status.value = message(kind, text)

    # -- static copy ----------------------------------------------------------------------------
    def static_parts(self) -> list[str]:
        """HTML pieces (tables, figures) of what the widget shows now; subclasses fill it."""
        return []

    def static_html(self) -> str:
        parts = "".join(self.static_parts())
        return (f'{_STYLE}<div class="{STATIC_CLASS}"><p><b>{html.escape(self.title)}</b> '
                f"<i>(static copy of the widget: its controls need a running kernel)</i></p>{parts}</div>")

    def refresh_static(self) -> None:
        if self._static_handle is not None:
            self._static_handle.update({"text/html": self.static_html()}, raw=True)

    def _ipython_display_(self):
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        self._static_handle = display({"text/html": self.static_html(), "text/plain": self.title}, raw=True,
                                      display_id=True)


def show(out: w.Output, *objs) -> None:
    """Replace what an Output widget shows."""
    out.clear_output(wait=True)
    with out:
        from IPython.display import display

        for o in objs:
            display(o)
