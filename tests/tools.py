"""Tools the tests run. `make test` installs every one of them (scripts/install.sh --test), so a
missing tool fails the test that needs it instead of skipping it: a skip would hide a check."""

from __future__ import annotations

import shutil

import pytest


def need_tool(tool: str) -> str:
    """The tool's path, or the test fails naming the install step."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: `make test` installs it (scripts/install.sh --test)")
    return path


def chromium(playwright):
    """Debian's chromium (installed by `make test`) driven by playwright: the browser tests never run
    `playwright install`, which would download a browser build."""
    return playwright.chromium.launch(executable_path=need_tool("chromium"), headless=True,
                                      args=["--no-sandbox", "--proxy-server=127.0.0.1:9"])  # no network
