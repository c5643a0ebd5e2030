#!/usr/bin/env bash
# Regenerates the real FRR / BIRD fixtures of tests/unit/test_parse_{frr,bird}.py
# (frr_*__kans_router*, bird_*__kans_w1*). Needs root, iproute2, FRR (/usr/lib/frr/zebra, bgpd, vtysh),
# BIRD 1.6 (bird, birdc) and python3.
# The KANS router runs the seed's frr.conf (copied from kanslab/topologies/kans3.yaml) in a throwaway
# namespace, with 10.1.1.254/24 and 10.1.2.254/24 on veth pairs (no dummy module needed); two BIRD
# instances play k8s-w1 and k8s-w0 with Calico-style protocol names. Every packet stays inside these
# namespaces; daemons (stopped by pid) and namespaces are removed on exit, even on failure.
#
#   sudo bash tests/unit/data/make_frr_bird_fixtures.sh [outdir]    (default: this script's folder)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(cd "${1:-$HERE}" && pwd)
P=kfb$$
R=$P-r N1=$P-n1 N2=$P-n2
TMP=$(mktemp -d)
FRRDIR=/etc/frr/$P RUNDIR=/var/run/frr/$P
cleanup() {
    set +e
    for f in "$TMP"/bird-n1.pid "$TMP"/bird-n2.pid "$RUNDIR"/bgpd.pid "$RUNDIR"/zebra.pid; do
        [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    sleep 1
    for ns in "$R" "$N1" "$N2"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$TMP" "$FRRDIR" "$RUNDIR"
}
trap cleanup EXIT INT TERM
V() { vtysh -N "$P" -c "$@"; }

for ns in "$R" "$N1" "$N2"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add r-n1 netns "$R" type veth peer name eth1 netns "$N1"
ip link add r-n2 netns "$R" type veth peer name eth1 netns "$N2"
ip -n "$R" addr add 192.168.10.254/24 dev r-n1; ip -n "$R" link set r-n1 up
ip -n "$R" addr add 192.168.20.254/24 dev r-n2; ip -n "$R" link set r-n2 up
ip -n "$N1" addr add 192.168.10.101/24 dev eth1; ip -n "$N1" link set eth1 up
ip -n "$N2" addr add 192.168.20.100/24 dev eth1; ip -n "$N2" link set eth1 up
ip -n "$N1" route add default via 192.168.10.254
ip -n "$N2" route add default via 192.168.20.254
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
ip -n "$R" link add loop1 type veth peer name loop1p
ip -n "$R" link add loop2 type veth peer name loop2p
for l in loop1 loop1p loop2 loop2p; do ip -n "$R" link set "$l" up; done
ip -n "$R" addr add 10.1.1.254/24 dev loop1
ip -n "$R" addr add 10.1.2.254/24 dev loop2

mkdir -p "$FRRDIR" "$RUNDIR"
python3 - "$HERE/../../../kanslab/topologies/kans3.yaml" > "$FRRDIR/frr.conf" <<'EOF'
import sys, yaml
def find(o):
    if isinstance(o, dict):
        if "frr_conf" in o:
            return o["frr_conf"]
        o = list(o.values())
    if isinstance(o, list):
        for v in o:
            if (r := find(v)) is not None:
                return r
print(find(yaml.safe_load(open(sys.argv[1]))), end="")
EOF
echo 'service integrated-vtysh-config' > "$FRRDIR/vtysh.conf"
chown -R frr:frr "$FRRDIR" "$RUNDIR"
ip netns exec "$R" /usr/lib/frr/zebra -d -N "$P" -F traditional -P 0 -i "$RUNDIR/zebra.pid"
ip netns exec "$R" /usr/lib/frr/bgpd -d -N "$P" -F traditional -P 0 -i "$RUNDIR/bgpd.pid"
sleep 1
vtysh -N "$P" -b >/dev/null

FRR_SRC="FRR $(/usr/lib/frr/zebra --version | head -1 | awk '{print $3}') zebra+bgpd with the seed's frr.conf (kanslab/topologies/kans3.yaml) in a throwaway netns, 10.1.1.254/24 and 10.1.2.254/24 on veth pairs; dynamic iBGP peers BIRD $(bird --version 2>&1 | awk '{print $3}') as k8s-w1 (192.168.10.101, block 172.16.158.0/24) and k8s-w0 (192.168.20.100, block 172.16.34.0/24), both also announcing 10.200.1.0/24"
BIRD_SRC="BIRD $(bird --version 2>&1 | awk '{print $3}') as k8s-w1 (192.168.10.101) in a throwaway netns, Calico-style protocol names: Mesh_192_168_20_100 to k8s-w0, Global_192_168_10_254 to the FRR router (seed frr.conf)"
SPARE="; plus 'neighbor 192.168.10.200 remote-as 64512' / 'description idc-spare' (no such host: state Connect)"
DAY=$(date +%F)
# save <file> <what> <how>: stdin -> fixture with its `# source:` line
save() { { echo "# source: generated for kanslab on $DAY: $2; captured with: $3"; cat; } > "$OUT/$1"; }

EMPTY="FRR with the seed's frr.conf before any node connected"
V 'show bgp summary json' | save frr_show_bgp_summary__kans_router_empty.json "$EMPTY" "vtysh -c 'show bgp summary json'"
V 'show bgp summary' | save frr_show_bgp_summary__kans_router_empty.txt "$EMPTY" "vtysh -c 'show bgp summary'"

for n in 1 2; do
    if [ $n = 1 ]; then me=192.168.10.101 gw=192.168.10.254 peer=192.168.20.100 blk=172.16.158.0/24
    else me=192.168.20.100 gw=192.168.20.254 peer=192.168.10.101 blk=172.16.34.0/24; fi
    cat > "$TMP/bird-n$n.conf" <<EOF
router id $me;
filter calico_export { if net ~ [ 172.16.0.0/16+, 10.200.1.0/24 ] then accept; reject; }
protocol kernel { learn; import all; export none; scan time 10; }
protocol device { scan time 10; }
protocol direct { interface "eth1"; }
protocol static { route $blk blackhole; route 10.200.1.0/24 blackhole; }
template bgp bgp_template { local as 64512; import all; export filter calico_export; next hop self;
                            connect delay time 1; connect retry time 2; }
protocol bgp Mesh_${peer//./_} from bgp_template { neighbor $peer as 64512; multihop; }
protocol bgp Global_${gw//./_} from bgp_template { neighbor $gw as 64512; }
EOF
    ip netns exec "$P-n$n" bird -c "$TMP/bird-n$n.conf" -s "$TMP/bird-n$n.ctl" -P "$TMP/bird-n$n.pid"
done
B1() { birdc -s "$TMP/bird-n1.ctl" "$@"; }
for _ in $(seq 60); do  # every session Established (router: 2 dynamic peers; w1: mesh + router)
    [ "$(V 'show bgp summary' | grep -c '^\*192.168.*  *2  *2 N/A')" = 2 ] \
        && [ "$(B1 show protocols | grep -c Established)" = 2 ] && break
    sleep 0.5
done
sleep 1  # let the routes settle

for c in 'show ip route' 'show bgp summary' 'show ip bgp summary' 'show bgp ipv4 unicast summary'; do
    f=frr_$(echo "$c" | tr ' ' _)__kans_router
    V "$c json" | save "$f.json" "$FRR_SRC" "vtysh -c '$c json'"
    V "$c" | save "$f.txt" "$FRR_SRC" "vtysh -c '$c'"
done
B1 show protocols | save bird_show_protocols__kans_w1.txt "$BIRD_SRC" "birdc -s <ctl> show protocols"
birdc -v -s "$TMP/bird-n1.ctl" show protocols \
    | save bird_show_protocols__kans_w1_verbose.txt "$BIRD_SRC" "birdc -v -s <ctl> show protocols (reply codes shown)"
python3 - "$TMP/bird-n1.ctl" <<'EOF' | save bird_show_protocols__kans_w1_raw.txt "$BIRD_SRC" "raw control socket: 'show protocols' written to the unix socket, reply read back (what calicoctl node status reads)"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
out = [f.readline()]                     # 0001 greeting
s.sendall(b"show protocols\n")
while not out[-1].startswith(b"0000"):
    out.append(f.readline())
sys.stdout.write(b"".join(out).decode())
EOF
B1 show route | save bird_show_route__kans_w1.txt "$BIRD_SRC" "birdc -s <ctl> show route"

V 'configure terminal' -c 'router bgp 64512' -c 'neighbor 192.168.10.200 remote-as 64512' \
  -c 'neighbor 192.168.10.200 description idc-spare'
sleep 3
V 'show bgp summary json' | save frr_show_bgp_summary__kans_router_connect.json "$FRR_SRC$SPARE" "vtysh -c 'show bgp summary json'"
V 'show bgp summary' | save frr_show_bgp_summary__kans_router_connect.txt "$FRR_SRC$SPARE" "vtysh -c 'show bgp summary'"

kill "$(cat "$TMP/bird-n2.pid")"
for _ in $(seq 40); do B1 show protocols | grep -q '^Mesh.* start ' && break; sleep 0.5; done
sleep 2
B1 show protocols | save bird_show_protocols__kans_w1_peerdown.txt "$BIRD_SRC; k8s-w0's BIRD stopped" "birdc -s <ctl> show protocols"
B1 show route | save bird_show_route__kans_w1_peerdown.txt "$BIRD_SRC; k8s-w0's BIRD stopped" "birdc -s <ctl> show route"
echo "fixtures written to $OUT"
