"""Pod and tunnel MTUs as Felix computes them (int_dataplane.go findHostMTU, determinePodMTU)."""

from __future__ import annotations

from kanslab.emulator import felix
from kanslab.emulator.felix import Pool

LINKS = [{"ifname": "lo", "mtu": 65536, "operstate": "UNKNOWN", "flags": ["LOOPBACK", "UP"]},
         {"ifname": "enp0s8", "mtu": 1500, "operstate": "UP", "flags": ["UP"]},
         {"ifname": "tunl0", "mtu": 1480, "operstate": "UNKNOWN", "flags": ["UP"]},
         {"ifname": "cali1234567890a", "mtu": 1300, "operstate": "UP", "flags": ["UP"]}]


def _pool(**kw):
    import ipaddress
    return Pool(name="p", cidr=ipaddress.ip_network("172.16.0.0/16"), **kw)


def test_host_mtu_is_the_smallest_up_nic_matching_felixs_pattern():
    assert felix.host_mtu(LINKS) == 1500  # lo, tunl0 and cali* do not count
    assert felix.host_mtu(LINKS + [{"ifname": "eth1", "mtu": 9000, "operstate": "UP"}]) == 1500
    assert felix.host_mtu(LINKS + [{"ifname": "eth1", "mtu": 1400, "operstate": "DOWN", "flags": []}]) == 1500
    assert felix.host_mtu(LINKS[:1]) == 1460  # nothing matches: Felix's fallback


def test_pod_mtu_follows_the_encapsulations_in_use():
    assert felix.tunnel_mtus(1500) == {"ipip": 1480, "vxlan": 1450}
    assert felix.pod_mtu(1500, [_pool(ipip_mode="Always")]) == 1480
    assert felix.pod_mtu(1500, [_pool(vxlan_mode="Always")]) == 1450
    assert felix.pod_mtu(1500, [_pool(ipip_mode="CrossSubnet"), _pool(vxlan_mode="Always")]) == 1450
    assert felix.pod_mtu(1500, [_pool()]) == 1500
    assert felix.pod_mtu(9000, [_pool(ipip_mode="Always")]) == 8980
