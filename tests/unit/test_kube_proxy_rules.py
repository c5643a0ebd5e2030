"""kube-proxy's iptables rules and the --noflush restore that keeps them apart from Felix's."""

from kanslab.backends.local.iptables_owned import restore_text
from kanslab.emulator import dns_records
from kanslab.emulator import kube_proxy_rules as kp

KUBERNETES = {"metadata": {"namespace": "default", "name": "kubernetes"},
              "spec": {"clusterIP": "10.200.1.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}
WEB = {"metadata": {"namespace": "default", "name": "web"},
       "spec": {"type": "NodePort", "clusterIP": "10.200.1.50",
                "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30001}]}}
EPS = {("default", "kubernetes"): {"subsets": [{"addresses": [{"ip": "192.168.10.10"}],
                                                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]},
       ("default", "web"): {"subsets": [{"addresses": [{"ip": "172.16.158.1"}, {"ip": "172.16.184.1"}],
                                         "ports": [{"port": 80, "protocol": "TCP"}]}]}}


def test_chain_names_are_the_ones_every_kubeadm_cluster_has():
    # the well-known chains of default/kubernetes and kube-dns, as iptables-save shows them on any cluster
    assert kp.port_proto_hash("default/kubernetes:https", "tcp") == "NPX46M4PTMTKRN6Y"
    assert kp.port_proto_hash("kube-system/kube-dns:dns", "udp") == "TCOU7JCQXEZGVUNU"
    assert kp.port_proto_hash("kube-system/kube-dns:dns-tcp", "tcp") == "ERIFXISQEP7F7OF4"
    assert kp.port_proto_hash("kube-system/kube-dns:metrics", "tcp") == "JD5MR3NA4I4DYORP"


def test_nodeport_service_rules():
    t = kp.render([KUBERNETES, WEB], EPS, "172.16.0.0/16")
    nat = t["nat"]
    svc = "KUBE-SVC-" + kp.port_proto_hash("default/web", "tcp")
    assert f'-A KUBE-SERVICES -m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.200.1.50 ' \
           f"--dport 80 -j {svc}" in nat
    jumps = [ln for ln in nat if ln.startswith(f"-A {svc} ") and "KUBE-SEP-" in ln]
    assert "--probability 0.5000000000" in jumps[0] and "statistic" not in jumps[1]
    services_chain = [ln for ln in nat if ln.startswith("-A KUBE-SERVICES ")]
    assert services_chain[-1].endswith("-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")   # it must stay last
    assert any(ln.startswith("-A KUBE-NODEPORTS") and "--dport 30001 -j KUBE-EXT-" in ln for ln in nat)
    assert "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE " \
           "--random-fully" in nat


def test_a_port_without_endpoints_is_rejected_in_filter():
    t = kp.render([WEB], {}, "172.16.0.0/16")
    assert any('"default/web has no endpoints"' in ln and "-j REJECT" in ln for ln in t["filter"])
    assert not any("KUBE-SVC-" in ln for ln in t["nat"])


def test_restore_touches_only_the_owners_chains_and_jumps():
    current = {"nat": [":PREROUTING ACCEPT [0:0]", ":cali-PREROUTING - [0:0]", ":KUBE-SVC-OLD - [0:0]",
                       '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING']}
    wanted = {"nat": [":KUBE-SERVICES - [0:0]", '-A PREROUTING -m comment --comment "kubernetes service portals" '
                      "-j KUBE-SERVICES"]}
    text = restore_text(current, wanted, "KUBE-", "-j KUBE-", leading=False)
    lines = text.splitlines()
    assert ":KUBE-SERVICES - [0:0]" in lines and "-X KUBE-SVC-OLD" in lines
    # kube-proxy's jump goes after Felix's, which stays untouched
    assert '-I PREROUTING 2 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in lines
    assert not any("cali" in ln for ln in lines)
    felix = restore_text({"nat": current["nat"] + ['-A PREROUTING -m comment --comment "kubernetes service portals" '
                                                   "-j KUBE-SERVICES"]},
                         {"nat": [":cali-PREROUTING - [0:0]", '-A PREROUTING -m comment --comment '
                                  '"cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING']}, "cali-", "cali:", leading=True)
    assert "KUBE" not in felix and "-D PREROUTING" not in felix   # its jump is already in place


def test_dns_records_for_services_headless_services_and_pods():
    headless = {"metadata": {"namespace": "kube-system", "name": "felix-metrics-svc"},
                "spec": {"clusterIP": "None"}}
    eps = {("kube-system", "felix-metrics-svc"): {"subsets": [{"addresses": [{"ip": "192.168.10.101"},
                                                                             {"ip": "192.168.10.10"}]}]}}
    pods = [{"metadata": {"namespace": "default", "name": "p"}, "status": {"podIP": "172.16.158.1"}}]
    pairs = dns_records.records([KUBERNETES, headless], eps, pods)
    assert ("10.200.1.1", "kubernetes.default.svc.cluster.local") in pairs
    assert [ip for ip, n in pairs if n == "felix-metrics-svc.kube-system.svc.cluster.local"] == [
        "192.168.10.10", "192.168.10.101"]
    assert ("172.16.158.1", "172-16-158-1.default.pod.cluster.local") in pairs


def test_felix_counts_its_own_chains_and_rules_not_kube_proxys():
    from kanslab.emulator.felix_metrics import iptables_counts

    save = ("*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:cali-PREROUTING - [0:0]\n"
            '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING\n'
            '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
            "-A KUBE-SERVICES -j RETURN\n-A cali-PREROUTING -j RETURN\nCOMMIT\n")
    assert iptables_counts(save) == {"nat": (1, 2)}
