"""Notebooks in JupyterLab in Chromium: run all cells as a student does, and check what the page shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanslab import wait_for

from .conftest import REPO
from .harness import Notebook, jupyter_lab

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).parent / "fixtures" / "widgets.ipynb"
TRANSCRIPT = REPO / "tests" / "unit" / "data" / "widgets.json.gz"
SWITCHER = ".kanslab-widget:has(.widget-toggle-button)"


def back_to_ipip(lab) -> None:
    """Leave the lab's pool as every chapter expects it (IPIP), whatever a test clicked."""
    lab.calicoctl("""patch ippool default-ipv4-ippool -p '{"spec":{"vxlanMode":"Never","ipipMode":"Always"}}'""")
    assert wait_for(lambda: set(lab.pod_routes("k8s-w1").query("kind != 'local'").dev) == {"tunl0"}, timeout=60)


def switch_to_vxlan(nb: Notebook, lab) -> str:
    """Choose VXLAN in the page's first ModeSwitcher; wait until vxlan.calico shows in it."""
    n = nb.page.locator(".kanslab-widget").evaluate_all(
        "(ws) => ws.findIndex(w => w.querySelector('.widget-toggle-button'))")
    assert n >= 0, "no ModeSwitcher on the page"
    try:
        if "vxlan.calico" in nb.widget_text(n):  # rendered while the chapter was in VXLAN: start from IPIP
            nb.choose_mode("IPIP", n)
            assert wait_for(lambda: "vxlan.calico" not in nb.widget_text(n), timeout=120)
        nb.choose_mode("VXLAN", n)
        return nb.wait_text("vxlan.calico", timeout=120, n=n)
    finally:
        back_to_ipip(lab)


def test_fixture_on_the_embedded_lab(page, workdir, embedded_lab):
    lab, env = embedded_lab
    with jupyter_lab(workdir.root, env) as server:
        nb = Notebook(page, server, workdir(FIXTURE)).open().run_all()
        rep = nb.report()
        assert rep.errors == [] and rep.cells == 3, rep.errors
        assert rep.figures == 2 and rep.widgets == 1, rep  # plot.topology, and the switcher's own
        # the static copy for exported HTML is in the page, hidden where the widget rendered
        assert page.locator(".kanslab-static").count() == 1 and not page.locator(".kanslab-static").is_visible()
        assert "tunl0" in nb.widget_text()
        text = switch_to_vxlan(nb, lab)
        assert "VXLAN: 3 blocks of other nodes routed via vxlan.calico" in text


def test_fixture_on_replay(page, workdir):
    env = {"KANSLAB_BACKEND": "replay", "KANSLAB_REPLAY": str(TRANSCRIPT)}
    with jupyter_lab(workdir.root, env) as server:
        nb = Notebook(page, server, workdir(FIXTURE)).open().run_all()
        rep = nb.report()
        assert rep.errors == [] and rep.cells == 3, rep.errors
        assert rep.figures == 2 and rep.widgets == 1, rep
        assert "REPLAY" in rep.text  # the replay says so
        nb.choose_mode("VXLAN")
        text = nb.wait_text("needs a live lab")
        assert "vxlan.calico" not in text and "Traceback" not in text
        assert "mod-active" in (page.locator(SWITCHER).get_by_role("button", name="IPIP", exact=True)
                                .get_attribute("class") or "")


# issue 12's acceptance: (chapter, backend, at least N figures, at least M widgets)
CHAPTERS = [("01-modes", "local", 5, 1), ("03-policy", "local", 2, 1), ("02-bgp-frr", "replay", 2, 1)]


@pytest.mark.timeout(1200)
@pytest.mark.parametrize(("chapter", "backend", "figures", "widgets"), [
    pytest.param(*c, id=c[0]) for c in CHAPTERS])
def test_chapter(page, workdir, request, chapter, backend, figures, widgets):
    env = {"KANSLAB_BACKEND": backend}
    lab = None
    if backend == "local":
        lab, env = request.getfixturevalue("embedded_lab")
    else:
        env["KANSLAB_REPLAY_DIR"] = str(REPO / "notebooks" / "replay")
    with jupyter_lab(workdir.root, env) as server:
        nb = Notebook(page, server, workdir(REPO / "notebooks" / f"{chapter}.ipynb")).open().run_all(timeout=1100)
        rep = nb.report()
        assert rep.errors == [], rep.errors
        assert rep.figures >= figures and rep.widgets >= widgets, (rep.figures, rep.widgets)
        if chapter == "01-modes":
            assert "vxlan.calico" in switch_to_vxlan(nb, lab)


def test_exported_html_shows_the_widgets_static_copy_offline(page, tmp_path):
    """nbconvert's HTML draws widgets only with a widget manager from a CDN: offline, the static
    copy (table and figure) shows what the widget showed."""
    import os
    import subprocess
    import sys

    env = os.environ | {"KANSLAB_BACKEND": "replay", "KANSLAB_REPLAY": str(TRANSCRIPT)}
    jupyter = Path(sys.executable).with_name("jupyter")
    subprocess.run([str(jupyter), "nbconvert", "--execute", "--to", "html", "--output-dir", str(tmp_path),
                    str(FIXTURE)], env=env, check=True, capture_output=True, timeout=300)
    asked = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
               else (asked.append(route.request.url), route.abort()))  # offline: nothing but the file
    page.goto((tmp_path / "widgets.html").as_uri())
    static = page.locator(".kanslab-static")
    static.wait_for(state="visible", timeout=60_000)
    assert "tunl0" in static.inner_text() and "default-ipv4-ippool" in static.inner_text()
    page.locator(".kanslab-static .js-plotly-plot").first.wait_for(state="visible", timeout=60_000)
    figures = page.locator(".js-plotly-plot").evaluate_all("fs => fs.filter(f => f.offsetHeight > 0).length")
    assert figures == 2, figures  # the cell's plot.topology and the switcher's, from its static copy
