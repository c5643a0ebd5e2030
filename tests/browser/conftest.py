"""Browser tests run at the end of the session (before the container smoke test, which runs last):
they start JupyterLab and Chromium and, for the embedded lab, a lab of their own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .harness import CHROMIUM, chromium

REPO = Path(__file__).resolve().parents[2]
# the fixture notebooks are run by these tests in a browser, on a backend they choose: not by nbval
collect_ignore_glob = ["fixtures/*"]


def pytest_collection_modifyitems(session, config, items):
    mine = [i for i in items if i.nodeid.startswith("tests/browser/")]
    last = [i for i in items if i.nodeid.startswith("tests/container/")]
    if mine:
        items[:] = [i for i in items if i not in mine and i not in last] + mine + last


def _need_chromium():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM}: scripts/install.sh --test installs it")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("browser tests need playwright (pip, the [test] extra): scripts/install.sh --test installs it")


@pytest.fixture(scope="session")
def browser():
    _need_chromium()
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def embedded_lab():
    """An embedded lab of the browser tests' own; notebooks reach it through KANSLAB_PREFIX."""
    if os.geteuid() != 0:
        pytest.skip("the embedded lab needs root (network namespaces)")
    from kanslab.backends.local.daemons import tools_missing

    missing = tools_missing()
    if missing:
        pytest.fail(f"the embedded lab needs these packages: {missing}; .ci/run installs them")
    import kanslab

    prefix = f"kb{os.getpid() % 10000}"
    lab = kanslab.connect("local", prefix=prefix)
    try:
        lab.up(progress=False)
        yield lab, {"KANSLAB_BACKEND": "local", "KANSLAB_PREFIX": prefix}
    finally:
        lab.down()


@pytest.fixture
def workdir(tmp_path):
    """Notebooks are run from a copy: running them in the browser saves them."""
    def copy(src: Path) -> str:
        shutil.copy(src, tmp_path / src.name)
        return src.name

    copy.root = tmp_path
    return copy
