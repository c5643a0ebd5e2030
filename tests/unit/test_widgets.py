"""kanslab.widgets without a lab: their logic, and their renders replayed from a recording of the
embedded lab (tests/unit/data/widgets.json.gz, made by tests/unit/data/record_widgets.py)."""

from __future__ import annotations

import html
import struct
from pathlib import Path

import pandas as pd
import pytest

import kanslab
from kanslab import plot
from kanslab.widgets import BGPPanel, CaptureView, ModeSwitcher, PolicyPlayground
from kanslab.widgets import _base as base
from kanslab.widgets.bgp import peer_of
from kanslab.widgets.capture import count_packets
from kanslab.widgets.modes import MODES, converged, expected_kind, mode_of
from kanslab.widgets.policy import EXAMPLE, changes, marked_heatmap

TRANSCRIPT = Path(__file__).parent / "data" / "widgets.json.gz"


@pytest.fixture
def replay():
    """A replayed lab that counts the calls it answers."""
    lab = kanslab.connect("replay", transcript=TRANSCRIPT, quiet=True)
    calls = []
    answer = lab.backend._answer

    def counted(method, args, kwargs):
        calls.append((method, args))
        return answer(method, args, kwargs)

    lab.backend._answer = counted
    lab.calls = calls
    return lab


def text(widget) -> str:
    return html.unescape(widget.status.value)


# -- logic ---------------------------------------------------------------------------------------
def test_mode_labels_and_pool_modes():
    assert MODES == ("IPIP", "Direct", "CrossSubnet", "VXLAN")
    assert mode_of("Always", "Never") == "IPIP"
    assert mode_of("Never", "Always") == "VXLAN"
    assert mode_of("CrossSubnet", "Never") == "CrossSubnet"
    assert mode_of("Never", "Never") == "Direct"
    assert mode_of("Never", "CrossSubnet") is None  # VXLAN CrossSubnet is not offered


def test_expected_kinds_follow_the_subnets():
    assert expected_kind("CrossSubnet", True) == {"direct"}
    assert expected_kind("CrossSubnet", False) == {"ipip"}
    assert expected_kind("Direct", False) == {"router"}
    assert expected_kind("VXLAN", None) == {"vxlan"}


def test_convergence_counts_blocks_routed_the_new_way():
    topo = kanslab.connect("replay", transcript=TRANSCRIPT, quiet=True).topology
    half = pd.DataFrame({"block": ["a", "b", "c", "d"], "owner": ["k8s-w1", "k8s-w2", "k8s-w0", "k8s-m"],
                         "kind": ["local", "vxlan", "ipip", "ipip"]})
    assert converged(half, "VXLAN", topo, "k8s-w1", blocks=3) == (1, 3)
    # a block whose route is gone (withdrawn, not yet re-added) still counts as expected
    assert converged(half[half.block != "d"], "VXLAN", topo, "k8s-w1", blocks=3) == (1, 3)
    cross = half.assign(kind=["local", "direct", "ipip", "direct"])
    assert converged(cross, "CrossSubnet", topo, "k8s-w1", blocks=3) == (3, 3)
    assert converged(cross, "IPIP", topo, "k8s-w1", blocks=3) == (1, 3)


def test_changed_cells_are_found_and_outlined():
    before = plot.from_truth_table("from\\to a b\na . .\nb . .")
    after = plot.from_truth_table("from\\to a b\na . X\nb . .")
    diff = changes(before, after)
    assert diff.to_dict("records") == [{"from": "a", "to": "b", "before": True, "after": False}]
    fig = marked_heatmap(after, diff, "t")
    marks = [t for t in fig.data if t.name == "changed"]
    assert len(marks) == 1 and list(marks[0].x) == ["b"] and list(marks[0].y) == ["a"]
    assert "allowed → blocked" in marks[0].hovertext[0]
    assert not [t for t in marked_heatmap(after, changes(after, after), "t").data if t.name == "changed"]


def test_packets_are_counted_while_tcpdump_writes(tmp_path):
    p = tmp_path / "x.pcap"
    p.write_bytes(b"")
    assert count_packets(p) is None
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    rec = struct.pack("<IIII", 1, 0, 4, 4) + b"abcd"
    p.write_bytes(head + rec * 3 + rec[:10])  # the fourth record is half written
    assert count_packets(p) == 3
    assert count_packets(tmp_path / "missing.pcap") is None


def test_bird_protocol_names_name_their_peer():
    assert peer_of("Mesh_192_168_10_102") == ("192.168.10.102", "mesh")
    assert peer_of("Global_192_168_10_254") == ("192.168.10.254", "global")
    assert peer_of("Node_10_0_0_1") == ("10.0.0.1", "node-specific")
    assert peer_of("kernel1") is None and peer_of("static1") is None


# -- replay: render from the recording, then no call -----------------------------------------------
def test_mode_switcher_renders_from_the_recording_and_refuses_switching(replay):
    m = ModeSwitcher(replay, node="k8s-w1")
    assert list(m.mode.options) == list(MODES)
    assert m.mode.value == "IPIP" and m.nat.value is True
    assert set(m.paths[m.paths.kind != "local"].dev) == {"tunl0"}
    n = len(replay.calls)
    assert n > 0
    m.mode.value = "VXLAN"
    assert "needs a live lab" in text(m) and "replay" in text(m) and "Traceback" not in text(m)
    assert m.mode.value == "IPIP"  # the control shows the pool as it is
    m.nat.value = False
    m.ping.click()
    assert m.nat.value is True and "needs a live lab" in text(m)
    assert len(replay.calls) == n


def test_policy_playground_renders_and_refuses_on_replay(replay):
    p = PolicyPlayground(replay)
    assert p.after.shape == (3, 3) and p.after.values.all()
    n = len(replay.calls)
    p.apply_button.click()
    p.delete_button.click()
    assert "needs a live lab" in text(p) and len(replay.calls) == n
    assert p.before is None and p.after.values.all()


def test_bgp_panel_shows_both_ends_and_the_routes_of_each_peer(replay):
    b = BGPPanel(replay)
    nodes = b.sessions[b.sessions.host != "router"]
    assert len(nodes) == 12 and set(nodes["info"]) == {"Established"} and set(nodes.kind) == {"mesh"}
    w1 = b.routes[b.routes.host == "k8s-w1"]
    assert set(w1.peer_host) == {"k8s-m", "k8s-w2", "k8s-w0"}
    assert w1.prefix.str.startswith("172.16.").all()
    n = len(replay.calls)
    b.refresh_button.click()
    assert "needs a live lab" in text(b) and len(replay.calls) == n


def test_capture_view_on_replay_says_it_needs_a_live_lab(replay):
    c = CaptureView(replay, "k8s-w1", "icmp")
    c.start_button.click()
    assert "Capturing needs a live lab" in text(c) and replay.calls == []
    with pytest.raises(kanslab.InvalidInput, match="no lab host"):
        CaptureView(replay, "k8s-w9", "icmp")


def test_a_failed_first_render_is_shown_not_raised():
    lab = kanslab.connect("replay", transcript=TRANSCRIPT, quiet=True, repeat=False)
    lab.backend._answer = lambda *a: (_ for _ in ()).throw(kanslab.LabError("the lab is down"))
    m = ModeSwitcher(lab)
    assert "the lab is down" in text(m) and "Traceback" not in text(m)


# -- the action logic, replayed as recorded (the replay made to act as a live lab) ---------------
def test_switch_to_vxlan_follows_the_routes_until_they_use_vxlan_calico(replay):
    m = ModeSwitcher(replay)
    m.live = True
    updates = []
    m._static_handle = type("H", (), {"update": lambda self, data, raw: updates.append(data["text/html"])})()
    m.mode.value = "VXLAN"
    assert m.mode.value == "VXLAN"
    assert set(m.paths[m.paths.kind != "local"].dev) == {"vxlan.calico"}, text(m)
    assert m.progress.value == m.progress.max == 3 and m.progress.bar_style == "success"
    assert "VXLAN: 3 blocks" in text(m)
    assert updates and "vxlan.calico" in updates[-1]  # the static copy follows the widget


def test_policy_apply_invalid_and_delete(replay):
    p = PolicyPlayground(replay)
    p.live = True
    p.apply_button.click()
    assert "deny-all-ingress created" in text(p)
    assert len(p.diff) == 6 and not p.diff.after.any()
    blocked = p.after.copy()
    n = len(replay.calls)
    p.editor.value = "kind: [broken"
    p.apply_button.click()
    assert "YAML" in text(p) and "Traceback" not in text(p)
    assert len(replay.calls) == n and p.after.equals(blocked)  # nothing sent, nothing measured
    p.editor.value = EXAMPLE.replace("[Ingress]", "[Sideways]")
    p.apply_button.click()
    assert 'Unsupported value: "Sideways"' in text(p) and p.after.equals(blocked)
    p.editor.value = EXAMPLE
    p.delete_button.click()
    assert "deleted" in text(p) and len(p.diff) == 6 and p.after.values.all()


# -- the static copy for exported HTML ----------------------------------------------------------
def test_display_leaves_the_widget_view_and_a_static_copy(replay, monkeypatch):
    import IPython.display

    m = ModeSwitcher(replay)
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)) or "handle")
    m._ipython_display_()
    (view, kw1), (static, kw2) = shown
    assert "application/vnd.jupyter.widget-view+json" in view and kw1 == {"raw": True}
    assert kw2.get("display_id") is True and m._static_handle == "handle"
    page = static["text/html"]
    assert base.STATIC_CLASS in page and f":has(.{base.WIDGET_CLASS})" in page
    assert "tunl0" in page and "plotly-graph-div" in page and "default-ipv4-ippool" in page
    assert base.WIDGET_CLASS in m._dom_classes


def test_routes_that_never_follow_the_switch_are_reported(replay, monkeypatch):
    m = ModeSwitcher(replay)
    m.live = True
    stuck = m.paths  # IPIP routes, whatever the pool says
    monkeypatch.setattr(replay, "pod_routes", lambda node, routes=None: stuck)
    pools = ("NAME                  CIDR            NAT    IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR\n"
             "default-ipv4-ippool   172.16.0.0/16   true   Never      Always      false      false              all()\n")
    monkeypatch.setattr(replay, "calicoctl", lambda args, **kw: "Successfully patched 1 'IPPool' resource\n"
                        if args.startswith("patch") else pools)
    with pytest.raises(kanslab.LabError, match="did not follow VXLAN within 0 s: 0 of 3 blocks"):
        m.switch("VXLAN", timeout=0.3)
    assert m.progress.bar_style == "danger" and m.progress.value == 0
    assert m.mode.value == "VXLAN"  # the pool did change: the control says so
