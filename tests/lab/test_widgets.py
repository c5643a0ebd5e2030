"""kanslab.widgets on the embedded lab: what an instructor clicking them would see."""

from __future__ import annotations

import html

import pytest

from kanslab.widgets import ModeSwitcher, PolicyPlayground
from kanslab.widgets.policy import EXAMPLE

pytestmark = pytest.mark.lab

CALICO_BAD_SELECTOR = """\
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: broken-selector}
spec:
  selector: app ==
  types: [Ingress]
"""
PODS = ["default/webpod1", "default/webpod2", "default/webpod3"]


def text(widget) -> str:
    return html.unescape(widget.status.value)


def test_mode_switcher_to_vxlan_brings_vxlan_calico_routes(lab, web_pods):
    m = ModeSwitcher(lab, node="k8s-w1")
    assert m.mode.value == "IPIP", text(m)
    try:
        m.mode.value = "VXLAN"
        remote = m.paths[m.paths.kind != "local"]
        assert len(remote) == 3 and set(remote.dev) == {"vxlan.calico"}, text(m)
        assert remote.route.str.contains("dev vxlan.calico").all() and "VXLAN: 3 blocks" in text(m)
        assert "vxlan.calico" in m.static_html()  # what the exported page shows
        # the kernel agrees with the widget
        assert "dev vxlan.calico" in lab.sh("k8s-w1", "ip route")
        m.ping.click()
        assert m.packets is not None and set(m.packets.encap) == {"vxlan"}, text(m)
    finally:
        m.mode.value = "IPIP"
    assert m.mode.value == "IPIP" and set(m.paths[m.paths.kind != "local"].dev) == {"tunl0"}, text(m)


def test_policy_playground_apply_delete_and_invalid_yaml(lab, web_pods):
    lab.wait_ready(PODS)
    p = PolicyPlayground(lab, pods=PODS)
    assert p.after.values.all(), p.after
    try:
        p.apply_button.click()
        assert "deny-all-ingress created" in text(p)
        assert p.after.sum().sum() == 3 and len(p.diff) == 6 and not p.diff.after.any()
        policies = lab.kubectl("get networkpolicy -n default -o yaml")
        for bad, says in (("kind: [broken", "YAML"),
                          (EXAMPLE.replace("[Ingress]", "[Sideways]"), 'Unsupported value: "Sideways"'),
                          (CALICO_BAD_SELECTOR, "selector")):
            p.editor.value = bad
            p.apply_button.click()
            assert says in text(p) and "Traceback" not in text(p)
            assert lab.kubectl("get networkpolicy -n default -o yaml") == policies  # nothing changed
            assert "broken-selector" not in lab.calicoctl("get globalnetworkpolicy")
        p.editor.value = EXAMPLE
        p.delete_button.click()
        assert "deleted" in text(p) and p.after.values.all() and len(p.diff) == 6
    finally:
        lab.kubectl("delete networkpolicy deny-all-ingress -n default --ignore-not-found", check=False)
    assert "deny-all-ingress" not in lab.kubectl("get networkpolicy -n default", check=False)
