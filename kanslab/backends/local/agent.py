"""The lab's agent: one root process per lab standing in for calico-node's Felix and CNI.

It reconciles the dataplane with the datastore when asked over its unix socket (pods'
namespaces and veths, tunl0/vxlan.calico, bird.cfg, natOutgoing rules), keeps every node's
pool routes in step with what BIRD learned (kernel table 200, watched with `ip monitor`),
runs the user-space IPIP encapsulator where the kernel has no ipip module, and serves every
pod's ports from one thread.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socketserver
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ...emulator import dns_records, felix, felix_metrics, felix_tables, pod_start, policy
from ...emulator.bird import REMOTE_TABLE, bird_node, render_bird_aggr, render_bird_cfg, render_bird_ipam
from ...emulator.felix import FdbEntry, Neighbour, NodeView, node_views
from . import iptables_owned, mntns, sshdoor
from .daemons import bird_configure, birdc, pid_alive, start_bird
from .dns import ClusterDNS, is_coredns
from .ipip import NextHops, TunEncapsulator, ipip_module_available
from .kubeapi_certs import pki_dir
from .kubeproxy import KubeProxy, wanted_tables
from .labfiles import pod_hostname, write_pod_files
from .labinfo import load_lab
from .metrics import KubeControllersEndpoint, MetricsServer
from .netns import InNetns, in_netns, ip_batch, run
from .network import add_netns
from .node_kernel import (
    addrs,
    current_pod_mtu,
    has_link,
    kernel_addresses,
    kernel_routes,
    mtu_file,
    owned_routes,
    read_route_tables,
    route_sync_interval,
    route_text,
)
from .podserver import PodServer
from .prompod import PrometheusPods
from .view import pods_by_node


class Agent:
    def __init__(self, prefix: str):
        self.lab = load_lab(prefix)
        self.names, self.topo, self.rec = self.lab.names, self.lab.topology, self.lab.record
        self.stop = threading.Event()
        self.lock = threading.RLock()
        self.pods = PodServer(self.stop)
        self.applied_pods: dict[str, dict] = {}
        self.bird_cfg: dict[str, str] = {}
        self.iptables: dict[str, tuple[dict, str]] = {}  # ipsets and rules last restored per node
        self.iptables_views: dict[str, NodeView] = {}  # the part of each node's view they were made from
        self.nexthops = {n.name: NextHops() for n in self.topo.nodes}
        self.node_locks = {n.name: threading.Lock() for n in self.topo.nodes}   # one node's routes at a time
        self.routing: dict[str, tuple] = {}   # per node: the part of its view its tunnels and routes follow
        self.kernel_ipip = ipip_module_available()
        self.states: dict[str, NodeView] = {}  # each node's view, as the routes are being programmed
        self.views: dict[str, NodeView] = {}   # each node's view as last programmed (metrics read it)
        self.felix_counters = {n.name: felix_metrics.FelixCounters() for n in self.topo.nodes}  # what each Felix did
        self.metrics = MetricsServer(self.stop, self.names.host, self.views.get, self.felix_counters.get)
        self.kube_controllers = KubeControllersEndpoint(self.lab, self.metrics)
        self.prometheus_pods = PrometheusPods(self.lab, self.names, self.rec, self.metrics)
        self.prometheus: subprocess.Popen | None = None
        self.prometheus_lock = threading.Lock()
        self.errors: list[str] = []
        self.route_syncs = 0   # how often a node's routes were synced (the reconcile log shows it)
        self.synced: dict[str, tuple] = {}  # per node: (view, table 200, main table) its last sync left alone
        self.creating_since: dict[str, float] = {}  # pod uid -> when first seen ContainerCreating
        self.failed_at: dict[str, tuple[int, int]] = {}  # pod uid -> (revision after its failed CNI ADD, try)
        self.start_timer: threading.Timer | None = None
        self.kube_proxy = KubeProxy()
        self.dns = ClusterDNS(self.names, self.rec)
        self.mtus: dict[str, tuple[tuple[bool, bool], int, int]] = {}  # node -> (encaps on, pod MTU, host MTU) at Felix's last start

    # -- start-up -------------------------------------------------------------------------------
    def start(self) -> None:
        self.pods.start()
        self.metrics.start()
        for n in self.topo.nodes:
            ns = self.names.host(n.name)
            if self.kernel_ipip:
                ip_batch(ns, ["link add tunl0 type ipip"] if not has_link(ns, "tunl0") else [])
            else:
                t = TunEncapsulator(ns, self.nexthops[n.name], self.stop)
                t.start()
                t.ready.wait(10)
                if t.error:
                    raise t.error
            run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.tunl0.disable_ipv6=1"], check=False)
            ip_batch(ns, ["link set tunl0 up"])  # its MTU: _reconcile_mtu, as Felix sets it
            threading.Thread(target=self._watch_routes, args=(n.name,), daemon=True, name=f"mon-{n.name}").start()
        for host, port in sshdoor.read_ports(self.names).items():
            sshdoor.Door(self.names, host, port, self.stop).start()
        self.reconcile()

    # -- reconcile ----------------------------------------------------------------------------
    def reconcile(self) -> dict:
        with self.lock:
            self.timings: dict[str, float] = {}
            t0 = time.monotonic()
            ds = self.lab.datastore()
            self._start_due_pods(ds)
            views = node_views(ds, [n.name for n in self.topo.nodes], self.topo)  # one snapshot, shared reads
            self.states.update(views)
            self.timings["views"] = time.monotonic() - t0
            self._reconcile_pods(pods_by_node(views), ds)
            # only nodes whose view changed are programmed, in batches of parallel workers (the work is
            # `ip`, iptables-restore and birdc processes): a lab of 100 nodes reconciles in seconds
            changed = [name for name, view in views.items() if _differs(self.views.get(name), view)]
            old_views = dict(self.views)
            with ThreadPoolExecutor(RECONCILE_WORKERS) as pool:
                done = list(pool.map(lambda name: self._program_node(name, views[name]), changed))
                self.views.update(views)
                self._reconcile_metrics(views, ds)
                # return with the routes in place, as the hostcli promises: where a pool switched
                # between BGP and VXLAN routing, BIRD re-feeds table 200 on its own time
                switched = [name for name, reloaded in zip(changed, done, strict=True)
                            if reloaded and _pool_routing(old_views.get(name)) != _pool_routing(views[name])]
                list(pool.map(self._settle_routes, switched))
            t1 = time.monotonic()
            self._reconcile_services(ds)
            self.timings["services"] = time.monotonic() - t1
            self.timings["total"] = time.monotonic() - t0
            print(f"reconcile: {len(changed)} nodes programmed; seconds "
                  + ", ".join(f"{k} {v:.2f}" for k, v in self.timings.items())
                  + f"; route syncs so far {self.route_syncs}", file=sys.stderr, flush=True)
            return {"ok": True, "revision": ds.revision(), "programmed": len(changed)}

    def _program_node(self, name: str, view: NodeView) -> bool:
        """One node's dataplane and BIRD config; True when its running BIRD was told to reload."""
        t = [time.monotonic()]
        self._reconcile_mtu(name)  # Felix restarts (and recomputes the MTU) when the encapsulation changes
        routing = _routing_key(view)
        # a label, a BGPPeer or the mesh setting leaves tunnels and routes as they are (BIRD's new
        # sessions bring their routes through table 200, which the watcher syncs); only then is the
        # node's lock needed: the watcher's syncs, busy while sessions close, must not hold the rest up
        if self.routing.get(name) != routing:
            with self.node_locks[name]:
                self._reconcile_tunnels(name)
                t.append(time.monotonic())
                self._sync_routes(name)
            self.routing[name] = routing
        else:
            t.append(time.monotonic())
        t.append(time.monotonic())
        self._reconcile_iptables(name, view)
        t.append(time.monotonic())
        r = self._reconcile_bird(name, bird_node(view))
        t.append(time.monotonic())
        for k, a, b in zip(("tunnels", "routes", "iptables", "bird"), t[:-1], t[1:], strict=True):
            self.timings[k] = self.timings.get(k, 0.0) + b - a
        return r

    def _settle_routes(self, name: str) -> None:
        self._await_remote_table(name)
        self.sync_routes(name)

    def _start_due_pods(self, ds) -> None:
        """The kubelet's part when the lab simulates slow starts (emulator/pod_start.py): a pod waiting in
        ContainerCreating starts once the delay has passed since the agent first saw it (the reconcile
        that follows its apply); a timer brings the next one."""
        # in the order they were created, so addresses come in the order they come without a delay
        creating = sorted((p for p in ds.list("Pod") if pod_start.is_creating(p)),
                          key=lambda p: int(p["metadata"].get("resourceVersion") or 0))
        now = time.monotonic()
        self.creating_since = {p["metadata"]["uid"]: self.creating_since.get(p["metadata"]["uid"], now)
                               for p in creating}
        # a pod whose CNI ADD failed is tried again when the cluster changed since (a pool added, an
        # address released), as kubelet keeps retrying; each try is one more FailedCreatePodSandBox event
        self.failed_at = {uid: v for uid, v in self.failed_at.items() if uid in self.creating_since}
        if not creating:
            return
        revision = ds.revision()
        for uid, (rev, _) in self.failed_at.items():
            if revision > rev:
                self.creating_since[uid] = now - 3600.0
        with ds.snapshot() as tx:
            wait = pod_start.delay(tx)
        next_due = None
        for p in creating:
            uid, meta = p["metadata"]["uid"], p["metadata"]
            due = self.creating_since[uid] + wait
            if due <= now:
                attempt = self.failed_at.get(uid, (0, 0))[1] + 1  # try 0 was the apply's
                why = pod_start.start(ds, meta["namespace"], meta["name"], uid, attempt)
                if why:  # stays ContainerCreating with its event, as a pod whose CNI ADD fails does
                    self.creating_since[uid] = float("inf")
                    self.failed_at[uid] = (ds.revision(), attempt)
                else:
                    self.failed_at.pop(uid, None)
            elif next_due is None or due < next_due:
                next_due = due
        if next_due is not None:
            if self.start_timer is not None:
                self.start_timer.cancel()
            self.start_timer = threading.Timer(max(0.0, next_due - now), self._timed_reconcile)
            self.start_timer.daemon = True
            self.start_timer.start()

    def _timed_reconcile(self) -> None:
        try:
            self.reconcile()
        except Exception as e:  # no caller to tell: kept for `ping`
            self.errors.append(f"reconcile after a pod start: {type(e).__name__}: {e}")

    def _reconcile_pods(self, wanted: dict[str, list[dict]], ds) -> None:
        want = {p["key"]: p for pods in wanted.values() for p in pods}
        for key in list(self.applied_pods):
            if key not in want or want[key]["uid"] != self.applied_pods[key]["uid"]:
                self._delete_pod(key)
        for key, p in want.items():
            if key not in self.applied_pods:
                self._create_pod(p, ds)

    def _reconcile_mtu(self, node: str) -> None:
        """Felix at start: host MTU from the node's links, tunl0/vxlan.calico MTUs and the pod MTU it
        writes to /var/lib/calico/mtu. Felix restarts when the encapsulations in use change
        (an IPIP pool switched to VXLAN), so that is when the lab recomputes; existing pods keep theirs."""
        view, ns = self.states[node], self.names.host(node)
        encaps = (any(p.ipip_mode != "Never" for p in view.ipv4_pools), any(p.vxlan_mode != "Never" for p in view.ipv4_pools))
        if node in self.mtus and self.mtus[node][0] == encaps:
            return
        host = felix.host_mtu(json.loads(run(["ip", "-n", ns, "-j", "link", "show"]).stdout or "[]"))
        tunnels = felix.tunnel_mtus(host)
        ip_batch(ns, [f"link set tunl0 mtu {tunnels['ipip']}"] +
                 ([f"link set {felix.VXLAN_DEV} mtu {tunnels['vxlan']}"] if has_link(ns, felix.VXLAN_DEV) else []))
        pod = felix.pod_mtu(host, view.ipv4_pools)
        path = mtu_file(self.names, node)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{pod}")
        self.mtus[node] = (encaps, pod, host)

    def _create_pod(self, p: dict, ds) -> None:
        node_ns = self.names.host(p["node"])
        pod_ns = self.names.pod(p["namespace"], p["name"])
        add_netns(self.rec, pod_ns)
        mtu = str(current_pod_mtu(self.names, p["node"]) or 1500)  # the CNI's "mtu": 0 reads Felix's file at ADD
        run(["ip", "link", "add", "name", p["ifname"], "mtu", mtu, "netns", node_ns, "type", "veth",
             "peer", "name", "eth0", "mtu", mtu, "netns", pod_ns])
        ip_batch(node_ns, [f"link set {p['ifname']} address ee:ee:ee:ee:ee:ee up",
                           f"route replace {p['ip']} dev {p['ifname']} scope link"])
        with InNetns(node_ns):
            for key, val in (("proxy_arp", "1"), ("forwarding", "1"), ("route_localnet", "1")):
                with open(f"/proc/sys/net/ipv4/conf/{p['ifname']}/{key}", "w") as f:
                    f.write(val)
            with open(f"/proc/sys/net/ipv4/neigh/{p['ifname']}/proxy_delay", "w") as f:
                f.write("0")
        ip_batch(pod_ns, [f"link set eth0 address {p['mac']}", f"addr add {p['ip']}/32 dev eth0",
                          "link set eth0 up", "route add 169.254.1.1 dev eth0 scope link",
                          "route add default via 169.254.1.1 dev eth0"])
        pod = ds.get("Pod", p["name"], p["namespace"])
        self._pod_namespaces(p, pod_ns)
        prometheus = self.prometheus_pods.wants(pod)
        # a prom/prometheus pod's ports are Prometheus's, not whoami's
        self.pods.add_pod(p["key"], pod_ns, p["name"], kernel_addresses(pod_ns), [] if prometheus else p["ports"])
        if prometheus:
            try:
                self.prometheus_pods.start(p["key"], pod, pod_ns)
            except Exception as e:  # the pod stays, without its software, as a container that fails to start
                self.errors.append(f"pod {p['key']}: prometheus: {type(e).__name__}: {e}")
        self.applied_pods[p["key"]] = {"uid": p["uid"], "netns": pod_ns, "node_ns": node_ns, "ip": p["ip"],
                                       "ifname": p["ifname"]}

    def _pod_namespaces(self, p: dict, pod_ns: str) -> None:
        """The pod's mount and UTS namespaces with the files kubelet gives it (labfiles, mntns)."""
        pod = self.lab.datastore().get("Pod", p["name"], p["namespace"]) or {
            "metadata": {"name": p["name"], "namespace": p["namespace"], "uid": p["uid"]}}
        dns_ip = str(self.topo.cluster.service_cidr.network_address + 10)  # kubeadm's clusterDNS: the 10th
        write_pod_files(self.names, pod_ns, pod, [p["ip"]], p["node"], dns_ip, pki_dir(self.names))
        mntns.create(self.names, self.rec, pod_ns, pod_ns, pod_hostname(pod), mntns.pod_script(self.names, pod_ns))

    def _delete_pod(self, key: str) -> None:
        info = self.applied_pods.pop(key)
        self.pods.remove_pod(key)
        self.prometheus_pods.stop(key)
        # Delete the pod's route first: when the namespace (and so the veth) goes, the kernel drops
        # the route without a netlink message, and BIRD (which scans the table rarely here) would
        # go on announcing it; a borrowed /32 would stay on every other node.
        run(["ip", "-n", info["node_ns"], "route", "del", info["ip"], "dev", info["ifname"]], check=False)
        run(["ip", "netns", "delete", info["netns"]], check=False)
        mntns.destroy(self.names, info["netns"])

    def _reconcile_tunnels(self, node: str) -> None:
        view, ns = self.states[node], self.names.host(node)
        lines = []
        want_ipip = view.ipip_tunnel_addr
        have = addrs(ns, "tunl0")
        for a in have:
            if a != want_ipip:
                lines.append(f"addr del {a}/32 dev tunl0")
        if want_ipip and want_ipip not in have:
            lines.append(f"addr add {want_ipip}/32 dev tunl0")
        vx = self.topo.cluster.vxlan
        dev = felix.vxlan_device(view, vx.vni, vx.port, felix.tunnel_mtus(self.mtus[node][2])["vxlan"])
        vx_exists = has_link(ns, felix.VXLAN_DEV)
        if dev is not None:
            if not vx_exists:
                lines += [f"link add {dev.name} type vxlan id {dev.vni} dstport {dev.port} dev {dev.parent} "
                          f"local {dev.local} nolearning", f"link set {dev.name} address {dev.mac}",
                          f"link set {dev.name} mtu {dev.mtu} up", f"addr add {dev.address}/32 dev {dev.name}"]
        elif vx_exists:
            lines.append(f"link del {felix.VXLAN_DEV}")
        ip_batch(ns, lines)

    def _reconcile_iptables(self, node: str, view: NodeView) -> None:
        """Felix's chains in raw, mangle, nat and filter (natOutgoing, policy), in one `--noflush` restore."""
        # BGP peers and the mesh setting are no part of Felix's rules: switching a lab of 100 nodes to
        # route reflection spares 100 renderings
        key = replace(view, revision=0, bgp_peers=[], mesh_enabled=True)
        if self.iptables_views.get(node) == key:
            return
        filter_lines, selector_sets = policy.filter_rules_and_sets(view)
        sets = felix_tables.ipsets(view) | selector_sets
        tables = felix_tables.raw_rules() + felix_tables.mangle_rules() + felix_tables.nat_rules(view) + filter_lines
        rules = "\n".join(felix_tables.with_rule_ids(tables)) + "\n"
        if self.iptables.get(node) == (sets, rules):
            self.iptables_views[node] = key
            return  # most changes (a pod on another node, a label) leave this node's rules as they are
        restore_sets = felix_tables.ipset_restore(sets, self.iptables.get(node, ({}, ""))[0])
        t0 = time.monotonic()
        ns = self.names.host(node)
        if restore_sets:
            run([*in_netns(ns), "ipset", "restore"], input=restore_sets)  # sets first: rules match them
        # only Felix's cali-* chains and jumps: kube-proxy's KUBE-* chains share these tables
        iptables_owned.restore(ns, iptables_owned.tables_of(rules), "cali-", "cali:", leading=True)
        # Felix removes the sets nothing uses (hosts sets, selectors) once no rule references them
        have = run([*in_netns(ns), "ipset", "list", "-n"], check=False).stdout.split()
        for stale in (name for name in have if name.startswith("cali40") and name not in sets):
            run([*in_netns(ns), "ipset", "destroy", stale], check=False)
        self.iptables[node] = (sets, rules)
        self.iptables_views[node] = key
        self.felix_counters[node].restored(rules, restore_sets, time.monotonic() - t0)

    def _reconcile_services(self, ds) -> None:
        """kube-proxy's rules on every node and the cluster DNS's records, from one datastore snapshot."""
        with ds.snapshot() as tx:
            services, pods = tx.list("Service"), tx.list("Pod")
            endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in tx.list("Endpoints")}
        tables = wanted_tables(services, endpoints, str(self.topo.cluster.pod_cidr))
        for n in self.topo.nodes:
            self.kube_proxy.sync(self.names.host(n.name), tables)
        coredns = {key: info["netns"] for key, info in self.applied_pods.items()
                   if is_coredns(*self._pod_meta(pods, key))}
        try:
            self.dns.sync(dns_records.hosts_text(dns_records.records(services, endpoints, pods)), coredns)
        except Exception as e:  # a DNS server that will not start must not stop the dataplane
            self.errors.append(f"cluster DNS: {type(e).__name__}: {e}")

    @staticmethod
    def _pod_meta(pods: list[dict], key: str) -> tuple[str, dict]:
        ns, name = key.split("/", 1)
        pod = next((p for p in pods if p["metadata"]["namespace"] == ns and p["metadata"]["name"] == name), None)
        return ns, ((pod or {}).get("metadata") or {}).get("labels") or {}

    def _reconcile_metrics(self, views: dict[str, NodeView], ds) -> None:
        """Felix's metrics port per node, open while FelixConfiguration's prometheusMetricsEnabled is true."""
        for name, view in views.items():
            try:
                self.metrics.sync({name: felix_metrics.listen_address(view.felix)})
            except OSError as e:  # a port taken or a host that is not the node's: Felix would log it
                self.errors.append(f"{name}: metrics server: {e}")
        try:
            self.kube_controllers.sync(self.applied_pods, ds)
        except OSError as e:
            self.errors.append(f"calico-kube-controllers: metrics server: {e}")

    def ensure_prometheus(self) -> dict:
        """Start the real Prometheus in the control plane's namespace unless it already runs."""
        from . import prom

        with self.prometheus_lock:
            ns = self.names.host(self.topo.control_plane)
            if self.prometheus is None or self.prometheus.poll() is not None:
                self.prometheus = prom.start(self.names, self.rec, ns, self.views, self.topo, dict(os.environ))
            return {"ok": True, "pid": self.prometheus.pid, "host": self.topo.control_plane, "port": prom.PORT,
                    "config": str(self.names.dir / "prometheus" / "prometheus.yml")}

    def _reconcile_bird(self, node: str, bn) -> bool:
        """Write the node's BIRD config; True when a running BIRD was told to reload it."""
        d = self.names.host_dir(node)
        files = {"bird_aggr.cfg": render_bird_aggr(bn), "bird_ipam.cfg": render_bird_ipam(bn),
                 "bird.cfg": render_bird_cfg(bn).replace('include "', f'include "{d}/')}
        text = "".join(files.values())
        if self.bird_cfg.get(node) == text:
            return False
        for name, body in files.items():
            (d / name).write_text(body)
        reloaded = node in self.bird_cfg or (d / "bird.pid").exists() and pid_alive(d / "bird.pid")
        if reloaded:
            bird_configure(self.names, node)
        else:
            start_bird(self.names, self.rec, node, self.names.host(node))
        self.bird_cfg[node] = text
        return reloaded

    def _await_remote_table(self, node: str, timeout: float = 2.0) -> None:
        """After `birdc configure` (a pool switched between VXLAN and BGP routing), BIRD re-feeds
        kernel table 200 on its own time: wait, bounded, until the table holds exactly the pool
        routes BIRD now exports to it, so the new mode's routes exist when the command returns."""
        out = birdc(self.names, node, "show route table master filter calico_remote_pool_routes", check=False)
        want = {ln.split()[0] for ln in out.splitlines() if ln[:1].isdigit() and "/" in ln.split()[0]}
        ns, deadline = self.names.host(node), time.monotonic() + timeout
        while True:
            p = run(["ip", "-n", ns, "-j", "route", "show", "table", "200"], check=False)
            rows = json.loads(p.stdout or "[]") if p.returncode == 0 else []
            have = {r["dst"] if "/" in r["dst"] else r["dst"] + "/32" for r in rows if r.get("dst")}
            if have == want or time.monotonic() > deadline:
                return
            time.sleep(0.01)

    # -- routes ---------------------------------------------------------------------------
    def sync_routes(self, node: str) -> None:
        with self.node_locks[node]:
            self._sync_routes(node)

    def _sync_routes(self, node: str) -> None:
        """`sync_routes` for a caller holding the node's lock."""
        view, ns = self.states.get(node), self.names.host(node)
        if view is None:
            return
        self.route_syncs += 1
        remote, main = read_route_tables(ns, REMOTE_TABLE, "main")
        # BIRD replaces a route by deleting and adding it: when the tables read back as the last sync
        # left them, under the same view, there is nothing to do (most syncs while sessions close)
        if self.synced.get(node) == (view, remote, main):
            return
        self.synced.pop(node, None)
        vroutes, neigh, fdb = felix.vxlan_routes(view)
        want = set(felix.bgp_pool_routes(view, kernel_routes(remote))) | set(vroutes)
        have = set(owned_routes(kernel_routes(main), view))
        if have - want:
            # a read between BIRD's delete and add of one route must not cost the route (calico-node's
            # BIRD writes the main table itself: there the gap lasts microseconds): deletions only
            # when the route is still gone a moment later
            time.sleep(0.05)
            remote, main = read_route_tables(ns, REMOTE_TABLE, "main")
            want = set(felix.bgp_pool_routes(view, kernel_routes(remote))) | set(vroutes)
            have = set(owned_routes(kernel_routes(main), view))
        lines = sorted(f"route del {route_text(r)}" for r in have - want)
        lines += sorted(f"route replace {route_text(r)}" for r in want - have)
        try:
            ip_batch(ns, lines)
        except Exception as e:  # keep going: one bad route must not stop the others
            self.errors.append(f"{node}: {e}")
            for ln in lines:
                subprocess.run(["ip", "-n", ns] + ln.split(), capture_output=True)
        if neigh or fdb or view.vxlan_tunnel_addr:   # no VXLAN here: spare the `ip`/`bridge` runs
            self._sync_vxlan_l2(node, neigh, fdb)
        elif not lines:
            self.synced[node] = (view, remote, main)
        self.nexthops[node].update({r.dst: r.via for r in want if r.dev == "tunl0"})

    def _sync_vxlan_l2(self, node: str, neigh: list[Neighbour], fdb: list[FdbEntry]) -> None:
        """vxlan.calico's ARP (`ip neigh`) and FDB (`bridge fdb`) entries for the remote VTEPs, as
        Felix's vxlan_mgr keeps them: the wanted ones replaced, any other permanent one removed."""
        ns = self.names.host(node)
        if not has_link(ns, felix.VXLAN_DEV):
            return
        dev = felix.VXLAN_DEV
        p = run(["ip", "-n", ns, "-j", "neigh", "show", "dev", dev, "nud", "permanent"], check=False)
        have_n = {e["dst"] for e in json.loads(p.stdout or "[]")}
        p = run(["bridge", "-n", ns, "-j", "fdb", "show", "dev", dev], check=False)
        have_f = {e["mac"] for e in json.loads(p.stdout or "[]") if e.get("state") == "permanent"}
        want_n = {x.ip for x in neigh}
        want_f = {x.mac for x in fdb}
        ip_lines = [f"neigh del {a} dev {dev}" for a in sorted(have_n - want_n)]
        ip_lines += sorted(f"neigh replace {x.ip} lladdr {x.mac} dev {x.dev} nud permanent" for x in neigh)
        br_lines = [f"fdb del {m} dev {dev} self" for m in sorted(have_f - want_f)]
        br_lines += sorted(f"fdb replace {x.mac} dev {x.dev} dst {x.dst} self permanent" for x in fdb)
        for tool, lines in (("ip", ip_lines), ("bridge", br_lines)):
            if lines:
                p = run([tool, "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", check=False)
                if p.returncode != 0:
                    self.errors.append(f"{node}: {tool} -batch: {p.stderr.strip()}")

    def _watch_routes(self, node: str) -> None:
        """Sync the node's routes when BIRD changes table 200: once for a burst of changes, at most every
        `route_sync_interval` (a lone change at once), not when a burst nets to nothing (BIRD replaces a
        route by deleting and adding it)."""
        ns = self.names.host(node)
        dirty, lock = threading.Event(), threading.Lock()
        changes: list[collections.Counter] = [collections.Counter()]  # route line -> adds minus deletes
        interval = route_sync_interval(len(self.topo.nodes))

        def syncer() -> None:
            last = 0.0
            while not self.stop.is_set():
                dirty.wait()
                self.stop.wait(max(0.0, last + interval - time.monotonic()))
                with lock:
                    dirty.clear()
                    seen, changes[0] = changes[0], collections.Counter()
                if not any(seen.values()):
                    continue
                last = time.monotonic()
                try:
                    self.sync_routes(node)
                except Exception:
                    self.errors.append(traceback.format_exc())

        threading.Thread(target=syncer, daemon=True, name=f"sync-{node}").start()
        p = subprocess.Popen(["ip", "-n", ns, "monitor", "route"], stdout=subprocess.PIPE, text=True)
        for line in p.stdout:
            if self.stop.is_set():
                break
            if "table 200" in line:
                deleted = line.startswith("Deleted ")
                with lock:
                    changes[0][line.removeprefix("Deleted ").strip()] += -1 if deleted else 1
                    dirty.set()
        p.kill()


RECONCILE_WORKERS = 8  # nodes programmed at once


def _differs(old: NodeView | None, new: NodeView) -> bool:
    """Whether a node's dataplane needs programming: its view changed in anything but the revision."""
    return old is None or replace(old, revision=0) != replace(new, revision=0)


def _routing_key(view: NodeView) -> tuple:
    """What a node's tunnel devices and pool routes depend on: its own and the other nodes' addresses,
    blocks, borrowed IPs and tunnel addresses, the pools and Felix's settings (not labels, peers, pods)."""
    def node(o) -> tuple:
        return (o.name, o.ip, str(o.network), tuple(o.blocks), tuple(o.borrowed_ips), o.ipip_tunnel_addr,
                o.vxlan_tunnel_addr, o.vxlan_tunnel_mac)
    return (node(view), view.nic, tuple(view.pools), tuple(node(o) for o in view.nodes),
            repr(view.lent_ips), repr(sorted(view.remote_borrowed.items())), repr(sorted(view.felix.items())))


def _pool_routing(view: NodeView | None) -> set[tuple[str, bool]]:
    """Which pools BIRD hands to the kernel (not VXLAN), the part of a view that changes table 200."""
    return {(str(p.cidr), p.vxlan_mode == "Never") for p in view.pools} if view else set()


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        agent: Agent = self.server.agent  # type: ignore[attr-defined]
        for raw in self.rfile:
            try:
                req = json.loads(raw)
                if req.get("op") == "reconcile":
                    resp = agent.reconcile()
                elif req.get("op") == "prometheus":
                    resp = agent.ensure_prometheus()
                elif req.get("op") == "ping":
                    resp = {"ok": True, "pid": os.getpid(), "kernel_ipip": agent.kernel_ipip, "errors": agent.errors[-5:]}
                else:
                    resp = {"ok": False, "error": f"unknown op {req.get('op')!r}"}
            except Exception as e:
                resp = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
            self.wfile.write((json.dumps(resp) + "\n").encode())
            self.wfile.flush()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="kanslab-agent")
    ap.add_argument("--prefix", required=True)
    args = ap.parse_args(argv)
    agent = Agent(args.prefix)
    sock_path = str(agent.names.agent_socket)
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    server = _Server(sock_path, _Handler)
    server.agent = agent  # type: ignore[attr-defined]
    try:
        agent.start()
    except Exception:
        traceback.print_exc()
        return 1
    os.chmod(sock_path, 0o600)
    print("ready", flush=True)
    server.serve_forever()
    return 0



if __name__ == "__main__":
    sys.exit(main())

