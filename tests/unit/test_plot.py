"""kanslab.plot: figures from real lab outputs (recorded in tests/unit/data), no root needed.

The route tables are k8s-w1's `ip route` in each mode and the pcaps the router (or k8s-w2's
enp0s8) captured while webpod1 (172.16.148.1, k8s-w1) fetched a page from webpod3
(172.16.60.1, k8s-w0) or webpod2 (172.16.163.1, k8s-w2).
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from kanslab import parse, plot
from kanslab.plot.topology import BLOCK_COLUMNS
from kanslab.topology import load_topology
from tests.tools import chromium
from tests.unit.fixtures import DATA, real

TOPO = load_topology("kans3")
BLOCKS = {"k8s-m": "172.16.56.0/24", "k8s-w0": "172.16.60.0/24", "k8s-w1": "172.16.148.0/24",
          "k8s-w2": "172.16.163.0/24"}
POD1, POD2, POD3 = "172.16.148.1", "172.16.163.1", "172.16.60.1"
W0, W1, W2 = "192.168.20.100", "192.168.10.101", "192.168.10.102"


def routes(mode: str):
    return parse.ip_route(real(f"kanslab_w1_ip_route__{mode}.txt"))


def packets(name: str):
    return parse.pcap(DATA / f"{name}.pcap")


def legend(fig: go.Figure) -> set[str]:
    return {t.name for t in fig.data if t.showlegend is not False}


def kinds(df) -> dict[str, str]:
    return dict(zip(df.block, df.kind, strict=True))


# -- block_routes: the table behind the picture --------------------------------------------------

@pytest.mark.parametrize("mode,want", [
    ("ipip", {"k8s-m": "ipip", "k8s-w2": "ipip", "k8s-w0": "ipip"}),
    ("direct", {"k8s-m": "direct", "k8s-w2": "direct", "k8s-w0": "router"}),
    ("ipip_crosssubnet", {"k8s-m": "direct", "k8s-w2": "direct", "k8s-w0": "ipip"}),
    ("vxlan", {"k8s-m": "vxlan", "k8s-w2": "vxlan", "k8s-w0": "vxlan"}),
    ("vxlan_crosssubnet", {"k8s-m": "direct", "k8s-w2": "direct", "k8s-w0": "vxlan"}),
])
def test_block_routes_name_how_each_block_is_reached(mode, want):
    df = plot.block_routes(routes(mode), TOPO, "k8s-w1", blocks=BLOCKS)
    assert kinds(df) == {BLOCKS[n]: k for n, k in want.items()} | {BLOCKS["k8s-w1"]: "local"}
    assert dict(zip(df.block, df.owner, strict=True)) == {b: n for n, b in BLOCKS.items()}
    assert list(df.columns) == BLOCK_COLUMNS
    assert POD1 + "/32" not in set(df.block)  # the local pod's own /32 on its cali* is not a block


def test_block_routes_owner_from_next_hop_without_blocks():
    ipip = plot.block_routes(routes("ipip"), TOPO, "k8s-w1")
    assert dict(zip(ipip.block, ipip.owner, strict=True)) == {b: n for n, b in BLOCKS.items()}
    vx = plot.block_routes(routes("vxlan"), TOPO, "k8s-w1")  # a VTEP address names no node
    assert vx[vx.kind == "vxlan"].owner.isna().all()
    row = vx[vx.block == BLOCKS["k8s-w0"]].iloc[0]
    assert row.dev == "vxlan.calico" and row.proto == "80" and row.route.endswith("dev vxlan.calico proto 80")


def test_route_n_reads_like_ip_route():
    from_route_n = plot.block_routes(parse.route_n(real("kanslab_w1_route_n__ipip.txt")), TOPO, "k8s-w1")
    from_ip = plot.block_routes(routes("ipip"), TOPO, "k8s-w1")
    assert kinds(from_route_n) == kinds(from_ip)
    assert list(from_route_n.gateway) == list(from_ip.gateway)


def test_block_routes_refuses_other_frames():
    with pytest.raises(ValueError, match="ip_route or kanslab.parse.route_n"):
        plot.block_routes(packets("kanslab_router_any__ipip"), TOPO)


# -- topology ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,want", [
    ("ipip", {"IPIP via tunl0", "own block (blackhole)"}),
    ("direct", {"direct via enp0s8 (no encapsulation)", "via the router (no encapsulation)", "own block (blackhole)"}),
    ("ipip_crosssubnet", {"IPIP via tunl0", "direct via enp0s8 (no encapsulation)", "own block (blackhole)"}),
    ("vxlan", {"VXLAN via vxlan.calico", "own block (blackhole)"}),
    ("vxlan_crosssubnet", {"VXLAN via vxlan.calico", "direct via enp0s8 (no encapsulation)", "own block (blackhole)"}),
])
def test_topology_legend_is_the_kinds_of_path(mode, want):
    fig = plot.topology(TOPO, routes=routes(mode), node="k8s-w1", blocks=BLOCKS)
    assert isinstance(fig, go.Figure)
    assert legend(fig) == want
    assert fig.layout.title.text == "Where k8s-w1 sends each pod block"
    # every remote block is drawn, labelled with its CIDR, in its path's colour
    blocks = {t: tr.marker.color for tr in fig.data if tr.name.endswith(": blocks") for t in tr.text}
    assert set(blocks) == set(BLOCKS.values())
    lines = {tr.name: tr.line.color for tr in fig.data if tr.name in want}
    for tr in fig.data:
        if tr.name.endswith(": blocks"):
            assert tr.marker.color == lines[tr.name.removesuffix(": blocks")]


def test_topology_hover_shows_the_route_as_ip_prints_it():
    fig = plot.topology(TOPO, routes=routes("ipip_crosssubnet"), node="k8s-w1", blocks=BLOCKS)
    tunnel = next(t for t in fig.data if t.name == "IPIP via tunl0")
    assert {h for h in tunnel.hovertext if h} == {f"172.16.60.0/24 via {W0} dev tunl0 proto bird"}


def test_topology_draws_router_subnets_and_nodes():
    fig = plot.topology(TOPO)
    names = {t.name for t in fig.data}
    assert {"router", "nodes", "subnets", "IDC networks"} <= names
    nodes = next(t for t in fig.data if t.name == "nodes")
    assert [s.split("<br>")[0] for s in nodes.text] == [f"<b>{n}</b>" for n in ("k8s-m", "k8s-w1", "k8s-w2", "k8s-w0")]
    subnets = next(t for t in fig.data if t.name == "subnet names")
    assert list(subnets.text) == ["net1 192.168.10.0/24", "net2 192.168.20.0/24"]
    assert legend(fig) == set() and fig.layout.title.text == "Lab topology: kans3"


def test_topology_marks_the_chosen_node():
    fig = plot.topology(TOPO, routes=parse.ip_route(real("kanslab_w1_ip_route__ipip.txt")), node="k8s-w1")
    nodes = next(t for t in fig.data if t.name == "nodes")
    sizes = dict(zip([s.split("<br>")[1] for s in nodes.text], nodes.marker.size, strict=True))
    assert sizes[W1] > sizes[W2] == sizes[W0]


def test_topology_draws_a_block_routes_table_as_given():
    # the data a Lab fetches (Lab.pod_routes) draws the same figure as the route table it came from
    paths = plot.block_routes(routes("vxlan_crosssubnet"), TOPO, "k8s-w1", BLOCKS)
    fig = plot.topology(TOPO, paths=paths, node="k8s-w1")
    want = plot.topology(TOPO, routes=routes("vxlan_crosssubnet"), node="k8s-w1", blocks=BLOCKS)
    assert [(t.name, list(t.x)) for t in fig.data] == [(t.name, list(t.x)) for t in want.data]
    assert legend(fig) == {"VXLAN via vxlan.calico", "direct via enp0s8 (no encapsulation)", "own block (blackhole)"}


def test_topology_needs_a_lab_or_topology():
    with pytest.raises(TypeError, match="Lab or a Topology"):
        plot.topology("kans3")


# -- flows ------------------------------------------------------------------------------------

def test_flows_ipip_outer_nodes_around_inner_pods():
    pk = packets("kanslab_router_any__ipip")
    fig = plot.flows(pk)
    assert legend(fig) == {"IPIP: outer header, protocol 4 (node to node)", "IPIP: inner packet (pod to pod)"}
    # lifelines: each pod beside its node, in path order
    assert list(fig.layout.xaxis.ticktext) == [POD1, W1, W0, POD3]
    outer = next(t for t in fig.data if t.name.startswith("IPIP: outer"))
    inner = next(t for t in fig.data if t.name.startswith("IPIP: inner"))
    x = {a: i for i, a in enumerate(fig.layout.xaxis.ticktext)}
    assert {tuple(sorted(outer.x[i:i + 2])) for i in range(0, len(outer.x), 3)} == {(x[W1], x[W0])}
    assert {tuple(sorted(inner.x[i:i + 2])) for i in range(0, len(inner.x), 3)} == {(x[POD1], x[POD3])}
    # the router saw each packet twice (in on net1, out on net2): one arrow each, seen 2x
    n = len(inner.x) // 3
    assert n * 2 == len(pk) and all("seen 2×" in h for h in inner.hovertext if h)
    labels = next(t for t in fig.data if t.name.endswith(": labels"))
    assert labels.text[0] == "TCP 80 S" and "TCP 80 SA" in labels.text


def test_flows_without_dedupe_keeps_every_copy():
    pk = packets("kanslab_router_any__ipip")
    inner = next(t for t in plot.flows(pk, dedupe=False).data if t.name.startswith("IPIP: inner"))
    assert len(inner.x) // 3 == len(pk)


def test_flows_vxlan_shows_vni_and_names():
    names = {POD1: "webpod1", POD3: "webpod3", W1: "k8s-w1", W0: "k8s-w0"}
    fig = plot.flows(packets("kanslab_router_any__vxlan"), names=names)
    assert legend(fig) == {"VXLAN: outer header, UDP 4789 (node to node)", "VXLAN: inner packet (pod to pod)"}
    assert list(fig.layout.xaxis.ticktext) == [f"<b>{names[a]}</b><br>{a}" for a in (POD1, W1, W0, POD3)]
    inner = next(t for t in fig.data if t.name.startswith("VXLAN: inner"))
    assert all(f"outer {W1} → {W0} (vxlan, VNI 4096)" in h or f"outer {W0} → {W1} (vxlan, VNI 4096)" in h
               for h in inner.hovertext if h)


def test_flows_names_from_a_topology():
    fig = plot.flows(packets("kanslab_router_any__ipip"), names=TOPO)
    assert f"<b>k8s-w1</b><br>{W1}" in fig.layout.xaxis.ticktext and POD1 in fig.layout.xaxis.ticktext


def test_flows_direct_is_plain_pod_to_pod():
    fig = plot.flows(packets("kanslab_w2_enp0s8__direct"))
    assert legend(fig) == {"plain IP (no encapsulation)"}
    assert list(fig.layout.xaxis.ticktext) == [POD1, POD2]
    assert "bands" not in fig.layout.title.text


def test_flows_crosssubnet_capture_on_the_router_is_ipip():
    fig = plot.flows(packets("kanslab_router_any__ipip_crosssubnet"))
    assert {t.legendgroup for t in fig.data if t.legendgroup} == {"ipip", "ipip-outer"}


def test_flows_caps_the_number_of_packets():
    fig = plot.flows(packets("kanslab_router_any__ipip"), max_packets=3)
    assert list(fig.layout.yaxis.ticktext) == ["1", "2", "3"] and "3 of 9 packets" in fig.layout.title.text


def test_flows_of_nothing():
    pk = packets("kanslab_router_any__ipip").head(0)
    fig = plot.flows(pk)
    assert fig.layout.annotations[0].text == "no IP packets in this capture"


# -- notebooks: figures in JupyterLab and in exported HTML, offline -------------------------------

@pytest.fixture
def renderer_restored():
    before = pio.renderers.default
    yield
    pio.renderers.default = before


def test_notebook_renderer_gives_both_mimetypes_and_no_cdn(renderer_restored):
    assert plot.use_notebook_renderer() == "plotly_mimetype+kanslab"
    bundle = plot.topology(TOPO)._repr_mimebundle_()
    assert {"application/vnd.plotly.v1+json", "text/html"} <= set(bundle)
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html and "<script src=" not in html  # no MathJax or plotly.js from a CDN


def test_exported_html_shows_the_figures_offline(tmp_path):
    """Run a notebook in a real kernel, export it with nbconvert, and count the plots that show.

    plotly.js is in the page once (from the first figure's output); the page is also opened in Debian's
    chromium (playwright) with no network and the figures must be drawn."""
    import nbclient
    import nbconvert
    import nbformat  # installed with jupyterlab: a test dependency, not optional
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "from kanslab import parse, plot\nfrom kanslab.topology import load_topology\nplot.use_notebook_renderer()",
        "plot.topology(load_topology('kans3'))",
        f"plot.flows(parse.pcap({str(DATA / 'kanslab_router_any__vxlan.pcap')!r}))")]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    html, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    assert html.count("plotly.js v") == 1 and html.count("Plotly.newPlot(") == 2
    page = tmp_path / "page.html"
    page.write_text(html)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:  # Debian's chromium, with no network (tests/tools.py)
        browser = chromium(p)
        try:
            tab = browser.new_page()
            tab.goto(page.as_uri())
            tab.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4",
                                  timeout=60_000)
            dom = tab.content()
        finally:
            browser.close()
    assert dom.count('plotly-graph-div js-plotly-plot') == 2 and dom.count('class="main-svg"') >= 4
