"""The topology's `cluster:` section as a typed ClusterConfig, with one set of defaults."""

import ipaddress

import pytest

from kanslab.emulator.cluster import cluster_spec
from kanslab.errors import InvalidInput
from kanslab.plot.topology import block_routes
from kanslab.topology import ClusterConfig, cluster_config, load_topology


def test_kans3_cluster_section_is_read_typed():
    c = load_topology("kans3").cluster
    assert (c.pod_cidr, c.block_size, c.service_cidr, c.as_number) == \
        (ipaddress.IPv4Network("172.16.0.0/16"), 24, ipaddress.IPv4Network("10.200.1.0/24"), 64512)
    assert (c.default_pool.name, c.default_pool.ipip_mode, c.default_pool.nat_outgoing) == \
        ("default-ipv4-ippool", "Always", True)
    assert (c.vxlan.vni, c.vxlan.port) == (4096, 4789)


def test_a_missing_section_gets_calicos_and_kubeadms_defaults_everywhere(tmp_path):
    c = cluster_config(None)
    assert c == ClusterConfig() and str(c.pod_cidr) == "192.168.0.0/16" and c.block_size == 26
    # the emulator and the plot read the same default: one home for the fact
    topo = load_topology("kans3")
    topo.cluster = c
    assert cluster_spec(topo).pod_cidr == c.pod_cidr
    table = block_routes(_routes("192.168.5.0/24"), topo, "k8s-w1")
    assert list(table.block) == ["192.168.5.0/24"]  # inside the default pod CIDR, so drawn


def _routes(dst):
    import pandas as pd

    return pd.DataFrame([{"dst": dst, "type": "unicast", "gateway": "192.168.10.102", "dev": "tunl0",
                          "proto": "bird"}])


@pytest.mark.parametrize("section,words", [
    ({"pod_cidr": "172.16.0.0/33"}, "cluster"),
    ({"block_size": "big"}, "cluster"),
    ({"pod_cidrs": "10.0.0.0/8"}, "unknown keys pod_cidrs"),
])
def test_bad_cluster_sections_are_refused_clearly(section, words):
    with pytest.raises(InvalidInput, match=words):
        cluster_config(section)
