"""Break-fix faults (issue 13): each one breaks a real pair that diagnose pins on the fault's layer,
and heal() gives back the pod reachability matrix from before."""

from __future__ import annotations

import pytest

from kanslab import InvalidInput, LabError
from kanslab.diagnose.faults import broken_pair

pytestmark = pytest.mark.lab

NEW_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "new-pod", "namespace": "default"},
           "spec": {"nodeName": "k8s-w1", "containers": [{"name": "c", "image": "traefik/whoami"}]}}


@pytest.fixture(scope="module")
def before(lab, web_pods):
    assert lab.injected() == []
    return lab.reachability()


def test_the_catalog_lists_at_least_six_faults(lab):
    f = lab.faults()
    assert list(f.columns) == ["name", "layer", "what", "symptom"] and len(f) >= 6
    assert set(f.layer) >= {"bgp", "routing", "mtu", "policy", "nat", "ipam"}


@pytest.mark.parametrize("name", ["bgp-wrong-as", "direct-across-subnets", "mtu-blackhole", "egress-deny",
                                  "nat-outgoing-off", "bird-stopped", "pool-disabled"])
def test_inject_diagnose_heal(lab, before, name):
    layer = lab.faults().set_index("name").loc[name, "layer"]
    try:
        lab.inject(name)
        assert lab.injected() == [name]
        if name == "pool-disabled":  # the symptom: a new pod waits in ContainerCreating with the CNI's event
            lab.apply(NEW_POD)
            with pytest.raises(LabError, match="FailedCreatePodSandBox.*no configured Calico pools"):
                lab.wait_ready("new-pod", timeout=60)
        src, dst, port, proto = broken_pair(lab, name)
        d = lab.diagnose(src, dst, port, proto)
        assert (d.attrs["verdict"], d.attrs["layer"]) == ("blocked", layer), d.to_string()
        assert d.attrs["agrees"], d.to_string()
    finally:
        assert lab.heal() == [name]
        if name == "pool-disabled":
            lab.delete(NEW_POD)
    assert lab.injected() == []
    assert lab.reachability().equals(before)


def test_several_faults_and_a_mystery_heal_in_one_call(lab, before):
    try:
        lab.inject("egress-deny")
        lab.inject("mtu-blackhole")
        msg = lab.inject(random=True, seed=7)
        assert "mystery" in msg and not any(n in msg for n in lab.faults().name)
        assert lab.injected()[:2] == ["egress-deny", "mtu-blackhole"] and lab.injected()[2] == "(mystery)"
        assert not lab.reachability().equals(before)
    finally:
        assert len(lab.heal()) == 3
    assert lab.reachability().equals(before)


def test_bad_requests_change_nothing(lab, before):
    with pytest.raises(InvalidInput, match="no fault 'nope'"):
        lab.inject("nope")
    with pytest.raises(InvalidInput):
        lab.inject()
    try:
        lab.inject("egress-deny")
        with pytest.raises(InvalidInput, match="already injected"):
            lab.inject("egress-deny")
        assert lab.injected() == ["egress-deny"]
    finally:
        lab.heal()
    assert lab.injected() == [] and lab.reachability().equals(before)


SOLUTIONS = {  # exercise id -> (fault, a typical wrong attempt or None, the fix)
    "06-mtu": ("mtu-blackhole", 'lab.sh("k8s-w2", "ip link set dev tunl0 mtu 1380")',
               'lab.sh("k8s-w1", "ip link set dev enp0s8 mtu 1500")'),
    "06-nat": ("nat-outgoing-off", None,
               """lab.calicoctl('''patch ippool default-ipv4-ippool -p '{"spec":{"natOutgoing":true}}' ''')"""),
    "06-direct": ("direct-across-subnets", None,
                  """lab.calicoctl('''patch ippool default-ipv4-ippool -p '{"spec":{"ipipMode":"CrossSubnet"}}' ''')"""),
    "06-bgp": ("bgp-wrong-as", None,
               """lab.calicoctl('''patch bgppeer kanslab-rtr -p '{"spec":{"asNumber":64512}}' ''')"""),
}


@pytest.mark.parametrize("ex_id", sorted(SOLUTIONS))
def test_challenge_checks_hint_then_pass_on_the_solution(lab, before, ex_id):
    from kanslab import exercises, wait_for

    fault, wrong, fix = SOLUTIONS[ex_id]
    layer = lab.faults().set_index("name").loc[fault, "layer"]
    r = exercises.check(ex_id, lab=lab)
    assert not r.passed and f'lab.inject("{fault}")' in r.message  # a healthy lab is not a solved challenge
    try:
        lab.inject(fault)
        r = exercises.check(ex_id, lab=lab)
        assert not r.passed and f"layer {layer}" in r.message and "Hint:" in r.message
        if wrong:
            exec(wrong, {"lab": lab})
            assert not exercises.check(ex_id, lab=lab).passed
        exec(fix, {"lab": lab})
        assert wait_for(lambda: exercises.check(ex_id, lab=lab).passed, timeout=30), exercises.check(ex_id, lab=lab)
    finally:
        lab.heal()
        if wrong:
            lab.sh("k8s-w2", "ip link set dev tunl0 mtu 1480")
    assert lab.reachability().equals(before)
