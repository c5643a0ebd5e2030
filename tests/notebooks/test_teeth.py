"""The chapters' check cells have teeth: break the lab the way a bug would, and the check fails."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import kanslab

pytestmark = pytest.mark.lab
CHAPTER = Path(__file__).resolve().parents[2] / "notebooks" / "01-modes.ipynb"
CHECK = "check: one tunl0 route per other node"


def test_ipip_check_fails_when_tunnel_routes_are_not_programmed(monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    prefix = f"kth{os.getpid() % 10000}"
    monkeypatch.setenv("KANSLAB_PREFIX", prefix)
    nb = nbformat.read(CHAPTER, as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and CHECK in c.source)
    # what a Felix that forgot IPIP routes would leave: k8s-w1 without its tunl0 routes
    sabotage = nbformat.v4.new_code_cell(
        "for r in lab.routes('k8s-w1').itertuples():\n"
        "    if r.dev == 'tunl0':\n"
        "        lab.sh('k8s-w1', f'ip route del {r.dst} dev tunl0')\n"
        "text = lab.sh('k8s-w1', \"route -n | egrep '(Destination|tunl0)'\")\n"
        "tunnel_routes = parse.route_n(text)")
    nb.cells = nb.cells[:idx] + [sabotage, nb.cells[idx]]
    try:
        with pytest.raises(CellExecutionError) as e:
            NotebookClient(nb, timeout=300, kernel_name="python3").execute()
        assert CHECK in str(e.value) and "AssertionError" in str(e.value)
    finally:
        kanslab.connect("local", prefix=prefix).down()
