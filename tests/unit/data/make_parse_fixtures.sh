#!/usr/bin/env bash
# Regenerates the real-output fixtures of tests/unit/test_parse_{routes,iptables,ping,pcap}.py.
# Needs root, iproute2, net-tools, iptables (nft and legacy), iputils ping, busybox, tcpdump, python3.
# Everything happens in throwaway network namespaces `kp-test-<pid>-*`; no packet is sent from, or to,
# the root namespace. The namespaces and every process started here are removed on exit, even on failure.
#
#   sudo bash tests/unit/data/make_parse_fixtures.sh [outdir]    (default: this script's folder)
set -Eeuo pipefail
OUT=$(cd "${1:-$(dirname "$0")}" && pwd)
P=kp-test-$$
N1=$P-n1 N2=$P-n2 POD=$P-pod
PIDS=()
cleanup() {
    set +e; trap - ERR
    for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null; done
    sleep 0.3
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    for ns in "$N1" "$N2" "$POD"; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT INT TERM
trap 'echo "make_parse_fixtures.sh: failed at line ${BASH_LINENO[*]:-$LINENO}: $BASH_COMMAND" >&2; trap - ERR' ERR
in1() { ip netns exec "$N1" "$@"; }
in2() { ip netns exec "$N2" "$@"; }

ip netns add "$N1"; ip netns add "$N2"; ip netns add "$POD"
for ns in "$N1" "$N2" "$POD"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
# node k8s-w1 (n1) <-> router (n2) on 192.168.10.0/24, as in the KANS lab
ip link add veth0 netns "$N1" type veth peer name veth1 netns "$N2"
ip -n "$N1" addr add 192.168.10.101/24 dev veth0
ip -n "$N2" addr add 192.168.10.254/24 dev veth1
ip -n "$N1" link set veth0 up; ip -n "$N2" link set veth1 up
# a pod behind a Calico-style veth (cali + 11 hex chars)
ip link add calia1b2c3d4e5f netns "$N1" type veth peer name eth0 netns "$POD"
ip -n "$N1" link set calia1b2c3d4e5f up
ip -n "$POD" addr add 172.16.158.1/32 dev eth0; ip -n "$POD" link set eth0 up
# a link whose peer is down: routes over it are `linkdown`
ip link add veth2 netns "$N1" type veth peer name veth3 netns "$N1"
ip -n "$N1" addr add 192.168.30.1/24 dev veth2; ip -n "$N1" link set veth2 up
# one `ip route add` per route: in `ip -batch` a `proto` leaks into the following lines (iproute2 6.1)
while read -r r; do ip -n "$N1" route add $r; done <<'EOF'
blackhole 172.16.158.0/24 proto bird
172.16.158.1 dev calia1b2c3d4e5f scope link
172.16.34.0/24 via 192.168.10.254 dev veth0 proto bird onlink
172.16.116.0/24 via 192.168.10.102 dev veth0 proto 80 onlink
172.16.184.0/24 via 192.168.30.254 dev veth2
unreachable 172.16.200.0/24
prohibit 172.16.201.0/24
10.1.1.0/24 via 192.168.10.254 dev veth0 proto bird metric 100
10.1.2.0/24 proto bird nexthop via 192.168.10.254 dev veth0 weight 1 nexthop via 192.168.10.253 dev veth0 weight 2
default via 192.168.10.254 dev veth0
EOF
sleep 0.2
in1 route -n > "$OUT/real_route_n.txt"
in1 netstat -rn > "$OUT/real_netstat_rn.txt"
in1 ip route > "$OUT/real_ip_route.txt"
in1 ip -c=always route > "$OUT/real_ip_c_route.txt"
in1 ip -j route > "$OUT/real_ip_j_route.json"
in1 ip -N route > "$OUT/real_ip_N_route.txt"
in1 ip route show table all > "$OUT/real_ip_route_table_all.txt"

# iptables: a Calico-like filter chain with a cali: comment, a MASQUERADE rule, counters, and
# legacy tables next to the nft ones (so iptables-save prints its warning)
in1 iptables -N cali-FORWARD
in1 iptables -A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD
in1 iptables -A cali-FORWARD -i cali+ -m comment --comment "cali:vjrMJCRpqwy5oRoX" -m mark --mark 0x10000/0x10000 -j ACCEPT
in1 iptables -A cali-FORWARD -o cali+ -p tcp --dport 80 -m comment --comment "cali:fromHostEndpoint \"quoted\"" -j ACCEPT
in1 iptables -A INPUT ! -s 10.0.0.0/8 -p icmp --icmp-type timestamp-request -j DROP
in1 iptables -N cali-empty
in1 iptables -t nat -N cali-nat-outgoing
in1 iptables -t nat -A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-nat-outgoing
in1 iptables -t nat -A cali-nat-outgoing -s 172.16.0.0/16 ! -d 172.16.0.0/16 -m comment --comment "cali:flqWnvo8yq4ULQLa" -j MASQUERADE --random-fully
in1 iptables -t mangle -A PREROUTING -p udp --dport 4789 -j MARK --set-xmark 0x1/0xffffffff
in1 iptables-save > "$OUT/real_iptables_save.txt"
in1 iptables-save -c > "$OUT/real_iptables_save_c.txt"
in1 iptables -L -n -v > "$OUT/real_iptables_L.txt"
if in1 iptables-legacy -t raw -A PREROUTING -j ACCEPT 2>/dev/null; then
    in1 iptables-save > "$OUT/real_iptables_save_legacy_warning.txt" 2>&1
    in1 iptables-legacy-save > "$OUT/real_iptables_legacy_save.txt"
fi

# ping between the namespaces: replies, and zero replies (no such host on the link)
in1 ping -c 3 -i 0.2 192.168.10.254 > "$OUT/real_ping.txt"
in1 ping -c 2 -i 0.2 -W 1 192.168.10.99 > "$OUT/real_ping_noreply.txt" || true
in1 ping -c 2 -i 0.2 -W 1 172.16.200.1 > "$OUT/real_ping_unreachable.txt" 2>&1 || true
in1 ping -c 5 -i 1 192.168.10.98 > "$OUT/real_ping_host_unreachable.txt" || true   # ARP fails: `From ... Destination Host Unreachable`
if command -v busybox >/dev/null; then
    in1 busybox ping -c 2 192.168.10.254 > "$OUT/real_ping_busybox.txt"
    in1 busybox ping -c 2 -W 1 192.168.10.99 > "$OUT/real_ping_busybox_noreply.txt" || true
fi

# captures -------------------------------------------------------------------------------------
# VXLAN between n1 and n2 (VNI 4096, port 4789: Calico's defaults)
ip -n "$N1" link add vx0 type vxlan id 4096 dstport 4789 local 192.168.10.101 remote 192.168.10.254 dev veth0
ip -n "$N2" link add vx0 type vxlan id 4096 dstport 4789 local 192.168.10.254 remote 192.168.10.101 dev veth1
ip -n "$N1" addr add 172.16.250.1/24 dev vx0; ip -n "$N1" link set vx0 up
ip -n "$N2" addr add 172.16.250.2/24 dev vx0; ip -n "$N2" link set vx0 up
ip netns exec "$N2" python3 - <<'EOF' &
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.168.10.254", 8080)); s.listen(); s.settimeout(20)
c, _ = s.accept(); c.recv(100); c.sendall(b"hello\n"); time.sleep(0.2); c.close(); s.close()
EOF
PIDS+=($!)

start_dump() {  # name, tcpdump args...: run tcpdump in n1 until stop_dumps
    local f=$1; shift
    # not through in1: $! must be the pid that becomes tcpdump (ip netns exec execs it)
    ip netns exec "$N1" tcpdump -Z root -U -nn -w "$OUT/$f" "$@" 2> "$OUT/.$f.err" &
    PIDS+=($!); DUMPS+=($!)
    for _ in $(seq 100); do grep -q listening "$OUT/.$f.err" 2>/dev/null && return; sleep 0.05; done
    echo "tcpdump $f did not start" >&2; cat "$OUT/.$f.err" >&2; exit 1
}
stop_dumps() {
    sleep 0.3
    for pid in "${DUMPS[@]}"; do kill -INT "$pid"; wait "$pid" || true; done
    cat "$OUT"/.*.pcap.err >&2
    DUMPS=(); rm -f "$OUT"/.*.pcap.err
}
DUMPS=()
start_dump cap_any_sll2.pcap -i any "not ip6"
start_dump cap_any_sll.pcap -i any -y LINUX_SLL "not ip6"
start_dump cap_veth0_eth.pcap -i veth0 "not ip6"
ip -n "$N1" neigh flush dev veth0
in1 ping -c 2 -i 0.2 192.168.10.254 >/dev/null            # plain ICMP (and ARP)
in1 ping -c 2 -i 0.2 172.16.250.2 >/dev/null              # through VXLAN
in1 python3 - <<'EOF'                                      # IPIP: the kernel adds the outer header (proto 4)
import socket, struct
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return ~s & 0xFFFF
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4b50, 1) + b"kanslab-ipip-test"
icmp = icmp[:2] + struct.pack("!H", csum(icmp + b"\0" * (len(icmp) % 2))) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                 socket.inet_aton("172.16.158.1"), socket.inet_aton("172.16.34.5"))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
for _ in range(2):
    s.sendto(ip + icmp, ("192.168.10.254", 0))
EOF
in1 python3 -c "
import socket; s = socket.create_connection(('192.168.10.254', 8080), timeout=5)
s.sendall(b'GET /\n'); s.recv(100); s.close()"
stop_dumps
echo "fixtures written to $OUT"
