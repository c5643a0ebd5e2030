"""LocalBackend: bring the embedded lab up and down, and run commands on its hosts."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from ...errors import CommandError, LabError, NotFound
from ...topology import Topology, load_topology
from ..podns import NO_SUCH_PROGRAM, exec_script, pod_node_and_ip
from ..ssh import SSHError, SSHPool, read_ssh_config
from . import mntns, record, sshdoor
from .agent_client import request
from .daemons import start_frr, tools_missing
from .labfiles import cni_token, write_host_files, write_node_files
from .labinfo import load_lab, write_lab
from .names import Names, default_prefix
from .network import build_network, host_env, pin_neighbours, write_host_tools


def _progress_print(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


class LocalBackend:
    name = "local"

    def __init__(self, prefix: str | None = None, topology: str | Path = "kans3", workers: int | None = None):
        """`workers=N`: workers k8s-w0..k8s-wN, the extra ones placed by the topology's extra_workers rule."""
        self.prefix = prefix or default_prefix()
        self._workers = workers
        self.names = Names(self.prefix)
        self.rec = record.Record(self.prefix)
        self._topology_arg = topology
        self._topo: Topology | None = None

    @property
    def topology(self) -> Topology:
        if self._topo is None:
            if (self.names.dir / "lab.json").exists():
                self._topo = load_lab(self.prefix).topology
            else:
                self._topo = load_topology(self._topology_arg, self._workers)
        return self._topo

    @property
    def hosts(self) -> list[str]:
        return self.topology.hosts

    # -- lifecycle ----------------------------------------------------------------------------
    def is_up(self) -> bool:
        if not self.names.agent_socket.exists():
            return False
        try:
            return request(str(self.names.agent_socket), "ping", timeout=5).get("ok", False)
        except OSError:
            return False

    def up(self, progress: Callable[[str], None] | None = _progress_print) -> bool:
        """Build the lab; returns False (and changes nothing) when it is already running."""
        say = progress or (lambda m: None)
        from ...emulator import pod_start

        start_delay = pod_start.delay_from_env()  # KANSLAB_POD_START_DELAY, None when unset
        if self.is_up():
            running = load_lab(self.prefix).topology
            wanted = load_topology(self._topology_arg, self._workers)
            if self._workers is not None and [n.name for n in running.nodes] != [n.name for n in wanted.nodes]:
                raise LabError(f"lab {self.prefix!r} is up with {len(running.nodes)} nodes, not the {self._workers} "
                               f"workers asked for: `sudo kanslab down --prefix {self.prefix}` first")
            if start_delay is not None:  # kept in the lab's datastore: every kernel and the agent see it
                pod_start.set_delay(load_lab(self.prefix).datastore(), start_delay)
                say(f"lab {self.prefix!r} is already up; new pods now take {start_delay:g} s to start")
            else:
                say(f"lab {self.prefix!r} is already up; nothing changed")
            return False
        if os.geteuid() != 0:
            raise LabError("bringing the embedded lab up needs root (network namespaces): run `sudo kanslab up`")
        missing = tools_missing()
        if missing:
            raise LabError(f"missing packages: {' '.join(missing)} (apt-get install {' '.join(missing)})")
        if self.rec.exists():
            say("a previous lab with this prefix left state behind; tearing it down first")
            record.teardown(self.prefix)
        topo = load_topology(self._topology_arg, self._workers)
        self._topo = topo
        t0 = time.monotonic()
        try:
            self.rec.add("dir", path=str(self.names.dir))
            write_lab(self.names, topo)
            say(f"namespaces and wires for {', '.join(topo.hosts)}")
            build_network(self.names, self.rec, topo)
            if pin_neighbours(self.names, topo):
                say(f"{len(topo.nodes)} nodes: permanent ARP entries on each subnet (the kernel's shared "
                    "neighbour table would overflow)")
            write_host_tools(self.names, self.rec, topo)
            say("mount and UTS namespaces: each host's own hostname, /etc, /var/lib and /root")
            mntns.ensure_files_dir(self.names, self.rec)
            for host in topo.hosts:
                write_host_files(self.names, topo, host)
                mntns.create(self.names, self.rec, host, self.names.host(host), host,
                             mntns.host_script(self.names, host, router=host == topo.router.name))
            sshdoor.prepare(self.names, topo)
            say("FRR on the router (AS %d, bgp listen range)" % topo.router.as_number)
            start_frr(self.names, self.rec, topo.router.name, self.names.host(topo.router.name), topo.router.frr_conf)
            say("Calico datastore: nodes, default IPPool, IPAM blocks")
            from ...emulator.resources import bootstrap
            from .kubeapi_server import ensure_pki

            bootstrap(load_lab(self.prefix).datastore(), topo)
            pki = ensure_pki(self.names, self.rec, topo)  # before the agent: pods get the CA and a token
            for n in topo.nodes:
                write_node_files(self.names, topo, n.name, (pki / "ca.crt").read_bytes(),
                                 cni_token((pki / "apiserver.key").read_bytes()))
            if start_delay:
                say(f"new pods take {start_delay:g} s to start (KANSLAB_POD_START_DELAY)")
                pod_start.set_delay(load_lab(self.prefix).datastore(), start_delay)
            say("calico-node on every node: BIRD, Felix, tunl0")
            self._start_agent()
            say("kube-apiserver: the Kubernetes API on 127.0.0.1 and %s:6443, kubeconfig beside ssh_config"
                % topo.node(topo.control_plane).ip)
            from .kubeapi_server import start as start_kubeapi  # late: `python -m` runs that module

            start_kubeapi(self.names, self.rec, topo)
            say("waiting for the BGP mesh to be Established")
            self.wait_bgp()
        except BaseException:
            say("bringing the lab up failed; tearing down what was made")
            record.teardown(self.prefix)
            raise
        say(f"lab {self.prefix!r} is up in {time.monotonic() - t0:.1f} s")
        return True

    def _start_agent(self) -> None:
        log = open(self.names.dir / "agent.log", "w")
        env = host_env(self.names, "agent") | self.rec.env_tag()
        p = subprocess.Popen([sys.executable, "-m", "kanslab.backends.local.agent", "--prefix", self.prefix],
                             stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True, text=True)
        self.rec.add_pid(p.pid, "agent")
        line = p.stdout.readline()
        if line.strip() != "ready":
            p.kill()
            raise LabError("the lab agent did not start:\n" + (self.names.dir / "agent.log").read_text()[-3000:])

    def down(self) -> list[str]:
        return record.teardown(self.prefix)

    def reconcile(self) -> dict:
        resp = request(str(self.names.agent_socket), "reconcile")
        if not resp.get("ok"):
            raise LabError(f"the lab agent failed to apply the change: {resp.get('error')}\n{resp.get('trace', '')}")
        return resp

    def wait_bgp(self, timeout: float | None = None, peers: set[str] | None = None) -> None:
        """Wait until every node's BIRD has its BGP protocols Established (asked over BIRD's socket,
        as calicoctl does; nodes already done are not asked again). The default timeout grows with
        the lab: a full mesh of N nodes has N(N-1)/2 sessions to open."""
        from .daemons import bird_socket_query

        nodes = self.topology.nodes
        timeout = timeout if timeout is not None else max(30.0, 1.0 * len(nodes))
        deadline = time.monotonic() + timeout
        pending: dict[str, list[str]] = {n.name: ["(not asked yet)"] for n in nodes}
        while time.monotonic() < deadline:
            for name in list(pending):
                try:
                    out = bird_socket_query(str(self.names.bird_ctl(name)), "show protocols")
                except OSError:
                    out = ""
                # reply lines are "1002-<row>" or " <row>" (BIRD's control protocol): drop the code
                rows = [(ln[5:] if ln[:4].isdigit() else ln).split() for ln in out.splitlines() if " BGP " in ln]
                bad = [r[0] for r in rows if "Established" not in r]
                if not rows:
                    bad = ["(no BGP protocols yet)"]
                if bad:
                    pending[name] = bad
                else:
                    del pending[name]
            if not pending:
                return
            time.sleep(0.2)
        worst = sorted(pending.items(), key=lambda kv: -len(kv[1]))[:3]
        raise LabError(f"BGP sessions not Established after {timeout:.0f} s on {len(pending)} of {len(nodes)} nodes, "
                       "e.g. " + "; ".join(f"{n}: {len(b)} ({', '.join(b[:3])}{', ...' if len(b) > 3 else ''})"
                                          for n, b in worst))

    # -- commands ----------------------------------------------------------------------------
    def _ns(self, host: str) -> str:
        if host not in self.hosts:
            raise NotFound(f"unknown host {host!r}; the lab's hosts are {', '.join(self.hosts)}")
        return self.names.host(host)

    @property
    def via_ssh(self) -> bool:
        """Without root, commands go through the lab's SSH door (KANSLAB_VIA_SSH=1 forces it)."""
        return os.geteuid() != 0 or os.environ.get("KANSLAB_VIA_SSH") == "1"

    def _door(self) -> SSHPool:
        """The lab's SSH door (its ssh_config) as the SSH transport's kept connections, one per host.

        Re-read when the file changes: a lab rebuilt under the same prefix has new ports and keys."""
        cfg = self.names.dir / "ssh_config"
        try:
            st = cfg.stat()
        except OSError:
            raise LabError(f"lab {self.prefix!r} has no SSH door ({cfg} is missing); is it up? "
                           "`sudo kanslab up`") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        pool = getattr(self, "_door_pool", None)
        if pool is None or getattr(self, "_door_stamp", None) != stamp:
            if pool is not None:
                pool.close()
            self._door_pool, self._door_stamp = SSHPool(read_ssh_config(cfg), sudo=False), stamp
        return self._door_pool

    def _argv(self, host: str, cmd: str) -> tuple[list[str], dict | None]:
        """How to run a shell command on a lab host inside its namespace, as root."""
        ns = self._ns(host)
        return [*mntns.enter_argv(self.names, host, ns, wd="/root"), "bash", "-c", cmd], host_env(self.names, host)

    def sh(self, host: str, cmd: str, timeout: float | None = None, check: bool = True, input: str | None = None) -> str:
        # 60 s; a lab of 100 nodes may take longer to apply a change every node follows (a label, a peer)
        timeout = timeout if timeout is not None else max(60.0, 2.0 * len(self.topology.nodes))
        if self.via_ssh:
            self._ns(host)
            try:
                return self._door().sh(host, cmd, timeout=timeout, check=check, input=input)
            except SSHError as e:
                raise LabError(f"cannot reach {host} over the lab's SSH door: {e} "
                               f"(is lab {self.prefix!r} up? `sudo kanslab up`)") from None
        argv, env = self._argv(host, cmd)
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, input=input)
        except subprocess.TimeoutExpired as e:
            raise CommandError(host, cmd, -1, f"timed out after {timeout} s") from e
        if check and p.returncode != 0:
            raise CommandError(host, cmd, p.returncode, p.stderr, p.stdout)
        return p.stdout

    def exec_pod(self, pod_key: str, cmd: str, timeout: float = 30, check: bool = True) -> str:
        ns_name, _, pod = pod_key.rpartition("/")
        ns_name = ns_name or "default"
        if self.via_ssh:  # as a student would: kubectl exec on the control plane
            return self._exec_via_kubectl(ns_name, pod, cmd, timeout, check)
        ds = load_lab(self.prefix).datastore()
        if ds.get("Pod", pod, ns_name) is None:
            raise NotFound(f"pod {ns_name}/{pod} not found")
        netns = self.names.pod(ns_name, pod)
        p = subprocess.run([*mntns.enter_argv(self.names, netns, netns), "bash", "-c", cmd], capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise CommandError(pod_key, cmd, p.returncode, p.stderr, p.stdout)
        return p.stdout

    def _exec_via_kubectl(self, ns_name: str, pod: str, cmd: str, timeout: float, check: bool) -> str:
        cp = self.topology.control_plane
        try:
            return self.sh(cp, f"kubectl exec -n {ns_name} {pod} -- bash -c {shlex.quote(cmd)}", timeout=timeout,
                           check=True)
        except CommandError as e:
            where = (pod_node_and_ip(lambda args: self.sh(cp, f"kubectl {args}"), ns_name, pod)
                     if NO_SUCH_PROGRAM.search(e.stderr) else None)
            if where is None:  # a real failure of the command, or no pod IP to find it by
                if check:
                    raise CommandError(f"{ns_name}/{pod}", cmd, e.exit_status, e.stderr, e.stdout) from None
                return e.stdout
        # the image lacks the program (traefik/whoami holds no shell): the pod's node runs it with its
        # own tools inside the pod's network namespace (as the vagrant backend does)
        try:
            return self.sh(where[0], "sh -s", input=exec_script(where[1], cmd), timeout=timeout, check=True)
        except CommandError as e:
            if check:
                raise CommandError(f"{ns_name}/{pod}", cmd, e.exit_status, e.stderr, e.stdout) from None
            return e.stdout

    def pod_ips(self) -> dict[str, str]:
        """{"ns/pod": IP} of every running pod with its own network, read straight from the datastore."""
        return {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["status"]["podIP"]
                for p in load_lab(self.prefix).datastore().list("Pod")
                if (p.get("status") or {}).get("phase") == "Running" and p["status"].get("podIP")
                and not p["spec"].get("hostNetwork")}   # no network namespace of their own to probe from

    def probe(self, pairs: list[tuple[str, str]], port: int, protocol: str = "TCP",
              timeout: float = 1.0) -> list[bool]:
        """Real connection attempts, all at once: (client "ns/pod", server IP) -> connected?"""
        from ...errors import NotSupported
        from .reach import probe

        if os.geteuid() != 0:
            raise NotSupported("local", "probe connections without root (sockets are opened inside the pods' "
                                        "namespaces)", "run the notebook as root or use sudo")
        netns = [(self.names.pod(*(k.split("/", 1) if "/" in k else ("default", k))), ip) for k, ip in pairs]
        return probe(netns, port, protocol, timeout)

    # -- Prometheus ------------------------------------------------------------------------------
    def prometheus(self) -> dict:
        """Start the lab's Prometheus (in the control plane's namespace) unless it runs; where it listens."""
        if self.via_ssh:  # the agent's socket is root's: ask from inside the lab, as root there
            out = self.sh(self.topology.control_plane, f"{shlex.quote(sys.executable)} -m kanslab.backends.local.hostcli "
                          f"--prefix {self.prefix} --host {self.topology.control_plane} prometheus", check=False)
            resp = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"ok": False, "error": "no answer"}
        else:
            resp = request(str(self.names.agent_socket), "prometheus")
        if not resp.get("ok"):
            raise LabError(f"Prometheus did not start: {resp.get('error')}")
        return resp

    def prometheus_api(self, path: str, params: dict[str, str]) -> dict:
        """GET Prometheus's HTTP API (`/api/v1/...`) from inside the control plane's namespace."""
        args = " ".join(f"--data-urlencode {shlex.quote(f'{k}={v}')}" for k, v in params.items())
        for attempt in (1, 2):
            info = getattr(self, "_prom_info", None) or self.prometheus()
            self._prom_info = info
            cmd = f"curl -sS -G --max-time 20 http://127.0.0.1:{info['port']}{path} {args}"
            try:
                out = self.sh(info["host"], cmd)
                break
            except CommandError as e:
                self._prom_info = None  # stopped meanwhile (a lab rebuilt under the same prefix): start it again
                if attempt == 2 or e.exit_status != 7:
                    raise
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            raise LabError(f"Prometheus answered {path} with something that is not JSON: {out[:300]!r}") from None

    def agent_info(self) -> dict:
        return request(str(self.names.agent_socket), "ping", timeout=5)

    def netns_list(self) -> list[str]:
        return self.rec.netns()

    def status_rows(self) -> list[dict]:
        rows = []
        for h in self.hosts:
            ns = self.names.host(h)
            up = Path(f"/run/netns/{ns}").exists()
            addrs = ""
            if up:
                p = subprocess.run(["ip", "-n", ns, "-j", "-4", "addr"], capture_output=True, text=True)
                data = json.loads(p.stdout or "[]")
                addrs = ", ".join(f"{a['local']}/{a['prefixlen']}" for link in data if link["ifname"] != "lo"
                                  for a in link.get("addr_info", []))
            rows.append({"host": h, "netns": ns, "running": up, "addresses": addrs})
        return rows

    def capture(self, host: str, bpf: str = "", iface: str = "any", count: int = 10000, seconds: float = 60):
        from ...capture import Capture

        self._ns(host)
        if self.via_ssh:  # tcpdump on the host through the door; the pcap is downloaded when it stops
            from ..ssh import SSHCapture

            return SSHCapture(self._door().host(host), bpf=bpf, iface=iface, count=count, seconds=seconds)
        limit = ["timeout", "-s", "INT", str(int(seconds))]
        d = self.names.dir / "captures"
        d.mkdir(exist_ok=True)
        return Capture(["ip", "netns", "exec", self.names.host(host)] + limit, host, bpf, iface, count, seconds,
                       directory=str(d))
