"""Records tests/unit/data/widgets.json.gz: the widgets' lab calls on a fresh embedded lab (root).

    KANSLAB_PREFIX=wr01 .venv/bin/python tests/unit/data/record_widgets.py

The unit tests replay it (render, refused actions, a switch to VXLAN followed to convergence) and
the browser test's replay fixture renders a ModeSwitcher from it. Pods are chapter 01's pod1..3."""

import os
import sys
import tempfile
from pathlib import Path

import kanslab
from kanslab.backends.replay.recorder import RecordingBackend
from kanslab.backends.replay.transcript import compact
from kanslab.lab import Lab

OUT = Path(__file__).with_name("widgets.json.gz")
PODS = "\n---\n".join(f"""
apiVersion: v1
kind: Pod
metadata: {{name: pod{i}}}
spec:
  nodeName: {node}
  containers: [{{name: pod{i}, image: nicolaka/netshoot, command: ["tail"], args: ["-f", "/dev/null"]}}]
  terminationGracePeriodSeconds: 0
""" for i, node in ((1, "k8s-w1"), (2, "k8s-w2"), (3, "k8s-w0")))


def main() -> int:
    import kanslab.widgets as W

    prefix = os.environ.get("KANSLAB_PREFIX", "wr01")
    raw = Path(tempfile.mkdtemp()) / "widgets.jsonl"
    inner = kanslab.connect("local", prefix=prefix).backend
    lab = Lab(RecordingBackend(inner, raw))
    try:
        lab.up(progress=False)
        lab.apply(PODS)
        lab.wait_ready(["pod1", "pod2", "pod3"])
        ips = {n: lab.pod_ip(n) for n in ("pod1", "pod2", "pod3")}
        for a in ips:  # warm the paths (neighbour entries) so the first 1 s probes are not cold
            for b, ip in ips.items():
                if a != b:
                    lab.exec(a, f"ping -c 1 -W 2 {ip}", check=False)
        # 1. first renders (what a chapter's widget cell records)
        m = W.ModeSwitcher(lab, node="k8s-w1")
        W.BGPPanel(lab)
        p = W.PolicyPlayground(lab)
        assert p.after.values.all(), f"the pods should reach each other before any policy:\n{p.after}"
        # 2. actions, for the unit tests' replays of the action logic
        m.switch("VXLAN")
        p.act("apply")
        assert p.after.sum().sum() == 3, f"deny-all-ingress leaves only each pod to itself:\n{p.after}"
        p.editor.value = "kind: [broken"
        try:
            p.act("apply")
        except kanslab.KanslabError:
            pass
        p.editor.value = W.policy.EXAMPLE.replace("[Ingress]", "[Sideways]")  # kubectl refuses it
        try:
            p.act("apply")
        except kanslab.KanslabError:
            pass
        p.editor.value = W.policy.EXAMPLE
        p.act("delete")
        assert p.after.values.all(), p.after
        m.switch("IPIP")
        lab.delete(PODS)
    finally:
        inner.down()
    compact(raw, OUT, chapter="widgets")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
