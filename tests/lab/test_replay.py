"""Record a real session on the embedded lab, then replay it: the same answers (text, DataFrames,
packets, reachability), in the recorded order, recorded errors raised again with their type and
fields, and ReplayMismatch for what was not recorded -- with no lab behind the replay."""

from __future__ import annotations

import pandas as pd
import pytest

import kanslab
from kanslab import parse, wait_for
from kanslab.backends.replay import RecordingBackend
from kanslab.backends.replay.transcript import compact, load

pytestmark = pytest.mark.lab


def session(lab: kanslab.Lab) -> dict:
    """What a chapter does: commands, a refused command, a wait, a capture, reachability, getters."""
    out = {"up": lab.up(progress=False), "status": lab.status(),
           "routes": parse.route_n(lab.sh("k8s-w1", "route -n")),
           "pools": lab.calicoctl("get ippool -o wide")}
    try:
        lab.sh("k8s-w1", "ls /no/such/dir")
    except kanslab.CommandError as e:
        out["error"] = (type(e), e.host, e.cmd, e.exit_status, e.stderr)
    # a wait on a state that changes by itself (the clock): replay must end it at the same poll
    t0 = float(lab.sh("k8s-w1", "date +%s.%N"))
    polls = []

    def later():
        polls.append(float(lab.sh("k8s-w1", "date +%s.%N")))
        return polls[-1] - t0 >= 0.3

    out["waited"] = wait_for(later, timeout=10)
    out["polls"] = polls
    ips = {k: lab.pod_ip(f"default/{k}") for k in ("webpod1", "webpod3")}
    with lab.capture("k8s-w1", bpf="icmp", count=20, seconds=10) as cap:
        lab.exec("webpod1", f"ping -c 2 -W 2 {ips['webpod3']}")
    out["packets"] = cap.packets
    out["reach"] = lab.reachability(port=80, pods=["webpod1", "webpod2", "webpod3"])
    out["pods"] = lab.pods()
    return out


def test_a_recorded_session_replays_with_the_same_answers(lab, web_pods, tmp_path):
    raw = tmp_path / "session.jsonl"
    recorded = session(kanslab.Lab(RecordingBackend(lab.backend, raw)))
    assert recorded["error"][0] is kanslab.CommandError and recorded["waited"]
    assert len(recorded["polls"]) >= 2 and len(recorded["packets"]) >= 2
    assert recorded["reach"].shape == (3, 3)

    for path in (raw, compact(raw, tmp_path / "session.json.gz")):
        t = load(path)
        assert [c["method"] for c in t.calls][:2] == ["up", "status_rows"]
        replay = kanslab.connect("replay", transcript=path, quiet=True)
        again = session(replay)
        assert again["up"] == recorded["up"] and again["pools"] == recorded["pools"]
        pd.testing.assert_frame_equal(again["routes"], recorded["routes"])
        pd.testing.assert_frame_equal(again["status"].drop(columns="replayed"), recorded["status"])
        assert again["error"] == recorded["error"]
        assert again["waited"] and again["polls"] == recorded["polls"]  # the wait ends at the same poll
        pd.testing.assert_frame_equal(again["packets"], recorded["packets"], check_like=False)
        pd.testing.assert_frame_equal(again["reach"], recorded["reach"])
        pd.testing.assert_frame_equal(again["pods"], recorded["pods"])
        assert again["reach"].attrs["replayed_from"].startswith(path.name)
        with pytest.raises(kanslab.ReplayMismatch, match="nearest recorded call"):
            replay.sh("k8s-w1", "route -n | head -1")  # never asked on the lab


def test_replay_answers_in_recorded_order_not_from_the_lab(lab, tmp_path):
    """Change the lab between two identical questions: replay gives the two recorded answers in turn,
    whatever the lab says now."""
    raw = tmp_path / "order.jsonl"
    rec = kanslab.Lab(RecordingBackend(lab.backend, raw))
    before = rec.sh("router", "ip route show 10.99.0.0/24")
    lab.sh("router", "ip route add blackhole 10.99.0.0/24")
    try:
        after = rec.sh("router", "ip route show 10.99.0.0/24")
    finally:
        lab.sh("router", "ip route del blackhole 10.99.0.0/24")
    assert before == "" and "blackhole 10.99.0.0/24" in after
    replay = kanslab.connect("replay", transcript=raw, quiet=True)
    assert replay.sh("router", "ip route show 10.99.0.0/24") == before
    assert replay.sh("router", "ip route show 10.99.0.0/24") == after
