"""A real JupyterLab in Debian's Chromium, driven by Playwright: open a notebook, run all cells, and
report what a student sees (figures, widget views, error outputs, text).

JupyterLab listens on a free loopback port with a random token; its settings, workspaces and
runtime files live in a temporary directory (the notebook is windowed off: every cell is in the
page, so figures below the fold count too). Chromium is Debian's (/usr/bin/chromium), launched by
PyPI's playwright with `executable_path`: no browser is ever downloaded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# everything a notebook shows is in the page, not only the cells near the viewport (JupyterLab 4
# renders a long notebook's cells lazily by default)
SETTINGS = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                               "checkForUpdates": False}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    token: str
    root: Path
    log: Path

    def lab_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}"


@contextmanager
def jupyter_lab(root: Path, env: dict[str, str] | None = None, timeout: float = 60):
    """JupyterLab serving `root` on 127.0.0.1:<free port>; kernels get `env` on top of ours."""
    work = Path(tempfile.mkdtemp(prefix="kanslab-jlab-"))
    settings = work / "settings"
    for name, value in SETTINGS.items():
        p = settings / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value))
    port, token = free_port(), secrets.token_hex(16)
    full_env = os.environ | (env or {}) | {
        "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime")}
    log = work / "jupyter.log"
    jupyter = Path(sys.executable).with_name("jupyter")
    argv = [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
            "--LabApp.news_url=", "--ServerApp.terminals_enabled=False"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + timeout
        while True:  # wait for the server to answer, not a fixed time
            try:
                with urllib.request.urlopen(f"{server.url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def chromium():
    """Debian's Chromium, headless, through Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # root (the lab tests run as root) needs --no-sandbox; /dev/shm may be small in containers
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Report:
    """What the page shows after running the notebook."""
    figures: int = 0          # plotly figures drawn and visible (.js-plotly-plot)
    widgets: int = 0          # top-level widget views (.jupyter-widgets not inside another)
    errors: list[str] = field(default_factory=list)   # error outputs (saved notebook) and render errors
    text: str = ""            # the visible text of every output
    cells: int = 0            # code cells executed


# visible plotly figures, top-level widget views, outputs' visible text, render errors
_INSPECT = """() => {
  const visible = e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  const figs = [...document.querySelectorAll('.jp-Notebook .js-plotly-plot')].filter(visible).length;
  const views = [...document.querySelectorAll('.jp-Notebook .jupyter-widgets')]
      .filter(e => visible(e) && !e.parentElement.closest('.jupyter-widgets')).length;
  const outs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea')].map(e => e.innerText).join('\\n');
  const bad = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
      .map(e => e.innerText).filter(t => /Error displaying widget|Error rendering output|model not found/.test(t));
  const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell').length;
  return {figs, views, outs, bad, cells};
}"""


class Notebook:
    """A notebook open in JupyterLab in a Playwright page."""

    def __init__(self, page, server: Server, path: str):
        self.page, self.server, self.path = page, server, path

    def open(self, timeout: float = 120) -> "Notebook":
        self._opened_mtime = (self.server.root / self.path).stat().st_mtime_ns
        self.page.goto(self.server.lab_url(self.path))
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
        # the kernel has started and is connected: its name is in the toolbar and it is idle
        self.page.wait_for_function(
            """() => { const k = document.querySelector('.jp-NotebookPanel-toolbar .jp-KernelName, .jp-Toolbar-kernelName');
                       const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
                       return k && /\\w/.test(k.innerText) && !/No Kernel|Starting/i.test(k.innerText)
                              && ind && ind.getAttribute('data-status') === 'idle'; }""",
            timeout=timeout * 1000, polling=250)
        self.page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook is the current widget
        return self

    def wait_idle(self, timeout: float = 120) -> None:
        """Until the kernel is idle and no cell waits to run ([*])."""
        self.page.wait_for_function(
            """() => {
              const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
              const idle = ind && ind.getAttribute('data-status') === 'idle';
              const pending = [...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')]
                  .some(p => p.innerText.includes('*'));
              return idle && !pending;
            }""", timeout=timeout * 1000, polling=250)

    def run_all(self, timeout: float = 600) -> "Notebook":
        """Run > Run All Cells, as a student does, then wait until the kernel is done."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        for attempt in range(3):  # a click while JupyterLab is still settling can be lost: try again
            self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            self.page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            try:  # the cells are queued at once: [*] or a number in their prompts
                self.page.wait_for_function(
                    """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
                         .some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))""", timeout=15_000, polling=250)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
        self.wait_idle(timeout)
        return self

    def save(self, timeout: float = 30) -> dict:
        """Save from the browser (File > Save) and return the saved notebook's JSON."""
        file = self.server.root / self.path
        self.page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + timeout
        while file.stat().st_mtime_ns == self._opened_mtime:  # (an autosave may have saved it already)
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterLab did not save {file}")
            time.sleep(0.2)
        self.page.wait_for_function(
            "() => !document.querySelector('.jp-mod-current.jp-mod-dirty')", timeout=timeout * 1000)
        return json.loads(file.read_text())

    def report(self) -> Report:
        seen = self.page.evaluate(_INSPECT)
        nb = self.save()
        errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb["cells"])
                  for o in c.get("outputs", []) if o.get("output_type") == "error"]
        ran = sum(1 for c in nb["cells"] if c["cell_type"] == "code" and c.get("execution_count"))
        return Report(figures=seen["figs"], widgets=seen["views"], errors=errors + seen["bad"],
                      text=seen["outs"], cells=ran)

    def widget_text(self, n: int = 0) -> str:
        return self.page.locator(".kanslab-widget").nth(n).inner_text()

    def wait_text(self, text: str, timeout: float = 120, n: int = 0) -> str:
        """Until the n-th kanslab widget shows `text`; returns the widget's text."""
        self.page.locator(".kanslab-widget").nth(n).get_by_text(text).first.wait_for(timeout=timeout * 1000)
        return self.widget_text(n)

    def choose_mode(self, mode: str, n: int = 0) -> None:
        """Click a ModeSwitcher's mode button (the n-th kanslab widget on the page)."""
        self.page.locator(".kanslab-widget").nth(n).get_by_role("button", name=mode, exact=True).click()
