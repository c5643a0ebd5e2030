"""The backend contract (kanslab/backends/base.py) without a lab: which backend has which capability,
the clear error where one is missing, and a recording and its replay keeping exactly the recorded
backend's capabilities (old transcripts included). tests/lab/test_backend_contract.py runs the same
calls against the three backends on a real lab."""

from __future__ import annotations

from pathlib import Path

import pytest

import kanslab
from kanslab.backends.base import (
    Backend,
    CanCapture,
    CanProbe,
    ListsPodIPs,
    Replayed,
    RunsPrometheus,
    capabilities,
    lacks,
)
from kanslab.backends.local import LocalBackend
from kanslab.backends.replay import RecordingBackend, ReplayBackend
from kanslab.backends.replay.transcript import Transcript, load
from kanslab.backends.vagrant import VagrantBackend

REPLAY = Path(__file__).resolve().parents[2] / "notebooks" / "replay"


def _replay_of(protocols: list[str] | None) -> ReplayBackend:
    """Chapter 00's recording, its header saying the recorded backend had PROTOCOLS (None: the
    header as committed)."""
    t = load(REPLAY / "00-lab.json.gz")
    header = dict(t.header)
    if protocols is not None:
        header["protocols"] = protocols
    return ReplayBackend(transcript=Transcript(header, t.calls, t.path), quiet=True)


def test_each_backend_provides_the_contract_and_its_own_capabilities():
    local = LocalBackend(prefix="zzunit")  # nothing runs: constructing reads the packaged topology only
    vagrant = VagrantBackend(ssh_config="/nonexistent/ssh_config")  # nothing connects
    replay = _replay_of(None)
    for b in (local, vagrant, replay):
        assert lacks(b, Backend) == [], b.name
    assert capabilities(local) == ["capture", "probe", "pod_ips", "prometheus"]
    assert capabilities(vagrant) == ["capture", "probe"]
    assert isinstance(replay, Replayed) and not isinstance(local, Replayed) and not isinstance(vagrant, Replayed)


# what a transcript recorded before capability names held: the recorded LocalBackend's public methods
OLD_HEADER_METHODS = ["agent_info", "capture", "down", "exec_pod", "is_up", "netns_list", "pod_ips", "probe",
                      "prometheus", "prometheus_api", "reconcile", "sh", "status_rows", "up", "wait_bgp"]


def test_a_transcript_from_before_capability_names_keeps_its_capabilities():
    t = load(REPLAY / "00-lab.json.gz")
    header = {k: v for k, v in t.header.items() if k != "protocols"} | {"capabilities": OLD_HEADER_METHODS}
    old = Transcript(header, t.calls, t.path)
    assert old.capabilities == ["capture", "probe", "pod_ips", "prometheus"]
    assert capabilities(ReplayBackend(transcript=old, quiet=True)) == old.capabilities
    without_prometheus_api = [m for m in OLD_HEADER_METHODS if m != "prometheus_api"]
    assert Transcript(header | {"capabilities": without_prometheus_api}, [], "").capabilities == [
        "capture", "probe", "pod_ips"]


@pytest.mark.parametrize("call, capability", [
    (lambda lab: lab.capture("router"), "capture packets"),
    (lambda lab: lab.reachability(), "probe connections between pods"),
    (lambda lab: lab.prometheus(), "run the lab's Prometheus"),
    (lambda lab: lab.prometheus_query("up"), "run the lab's Prometheus"),
])
def test_a_missing_capability_names_the_backend_and_the_capability(call, capability):
    lab = kanslab.Lab(_replay_of([]))
    with pytest.raises(kanslab.NotSupported) as info:
        call(lab)
    assert (info.value.backend, info.value.capability) == ("replay", capability)
    assert str(info.value).startswith(f"the replay backend cannot {capability}")


def test_the_vagrant_backend_says_what_it_cannot_before_connecting():
    lab = kanslab.Lab(VagrantBackend(ssh_config="/nonexistent/ssh_config"))
    with pytest.raises(kanslab.NotSupported, match="the vagrant backend cannot run the lab's Prometheus"):
        lab.prometheus()


def test_lab_refuses_what_is_not_a_backend():
    class NotABackend:
        name = "mine"

        def sh(self, host, cmd):
            return ""

    with pytest.raises(kanslab.InvalidInput, match="lacks hosts, topology, up, down, status_rows, exec_pod"):
        kanslab.Lab(NotABackend())


def test_recording_and_replaying_keep_exactly_the_recorded_capabilities(tmp_path):
    """Recorded from a backend that can only probe: the recorder can only probe, its transcript says
    so, and the replay of that transcript can only probe -- the rest is NotSupported as it was."""
    inner = _replay_of(["probe"])
    assert capabilities(inner) == ["probe"]
    rec = RecordingBackend(inner, tmp_path / "t.jsonl")
    assert isinstance(rec, RecordingBackend) and lacks(rec, Backend) == []
    assert capabilities(rec) == ["probe"]
    assert isinstance(rec, CanProbe) and not isinstance(rec, (CanCapture, ListsPodIPs, RunsPrometheus))
    kanslab.Lab(rec).up(progress=False)
    again = load(tmp_path / "t.jsonl")
    assert again.header["protocols"] == ["probe"] and [c["method"] for c in again.calls] == ["up"]
    replay = ReplayBackend(transcript=tmp_path / "t.jsonl", quiet=True)
    assert capabilities(replay) == ["probe"]
    with pytest.raises(kanslab.NotSupported, match="the replay backend cannot capture packets"):
        kanslab.Lab(replay).capture("router")


def test_the_recorder_passes_what_is_outside_the_contract_through_unrecorded(tmp_path):
    inner = LocalBackend(prefix="zzunit")
    rec = RecordingBackend(inner, tmp_path / "t.jsonl")
    assert capabilities(rec) == capabilities(inner)
    assert rec.names is inner.names and rec.prefix == "zzunit"  # LocalBackend's own, not the contract's
    assert not inner.is_up() and not rec.is_up()
    assert load(tmp_path / "t.jsonl").calls == []
