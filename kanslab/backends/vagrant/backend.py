"""VagrantBackend: the course's Vagrant VMs (or any cluster reachable over SSH), driven with paramiko.

Hosts come from `vagrant ssh-config` run in the course's vagrant/ folder, from a saved file of
that format (the embedded lab writes one too: `/run/kanslab/<prefix>/ssh_config`), or from a
small hosts YAML ("any cluster"). Each host keeps one SSH connection; kubectl and calicoctl run
on the control plane (k8s-m); Kubernetes objects come from the API server through an SSH
tunnel where it answers, else from `kubectl -o json`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pandas as pd

from ...errors import CommandError, LabError, NotFound
from ...topology import NodeSpec, Topology, load_topology
from ..podns import NO_SUCH_PROGRAM, exec_script, pod_node_and_ip
from ..ssh import Endpoint, RemoteProcess, SSHPool
from .capture import SSHCapture
from .inventory import load_endpoints
from .kube import KubeAccess

# a command with none of these runs in a pod without a shell (traefik/whoami has none)
_SHELL_CHARS = re.compile(r"[|&;<>()$`\\*?\[\]#~{}\n]")


def _progress_print(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


class VagrantBackend:
    name = "vagrant"

    def __init__(self, vagrant_dir: str | Path | None = None, ssh_config: str | Path | None = None,
                 hosts_yaml: str | Path | None = None, topology: str | Path = "kans3", sudo: bool | None = None,
                 connect_timeout: float = 10.0, reconnect_timeout: float = 120.0,
                 kubeconfig_path: str = "/etc/kubernetes/admin.conf", workers: int | None = None):
        """`workers`: the cluster's KANS_WORKERS, placed by the topology's extra_workers rule."""
        self._workers = workers
        self.vagrant_dir = Path(vagrant_dir).expanduser() if vagrant_dir is not None else None
        self.ssh_config = ssh_config
        self.hosts_yaml = hosts_yaml
        self._topology_arg = topology
        self._sudo = sudo
        self.connect_timeout, self.reconnect_timeout = connect_timeout, reconnect_timeout
        self._pool: SSHPool | None = None
        self._topo: Topology | None = None
        self._base: Topology | None = None
        self.source = ""
        self.kube = KubeAccess(self, kubeconfig_path)

    def __repr__(self) -> str:
        return f"<VagrantBackend {self.source or '(not loaded)'}>"

    # -- hosts ----------------------------------------------------------------------------------
    def _load(self) -> SSHPool:
        if self._pool is None:
            eps, self.source = load_endpoints(self.vagrant_dir, self.ssh_config, self.hosts_yaml)
            self._pool = SSHPool(eps, sudo=self._sudo, connect_timeout=self.connect_timeout,
                                 reconnect_timeout=self.reconnect_timeout)
            self._topo = None
        return self._pool

    @property
    def pool(self) -> SSHPool:
        return self._load()

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return self.pool.endpoints

    def role(self, host: str) -> str:
        ep = self.pool.host(host).ep
        if ep.role:
            return ep.role
        base = self._base_topology()
        if host == base.router.name:
            return "router"
        for n in base.nodes:
            if n.name == host:
                return n.role
        return "worker"

    def _base_topology(self) -> Topology:
        if self._base is None:
            self._base = load_topology(self._topology_arg, self._workers)
        return self._base

    @property
    def topology(self) -> Topology:
        """The packaged topology, its nodes narrowed to (and roles taken from) the hosts actually reachable."""
        if self._topo is None:
            base = self._base_topology()
            known = {n.name: n for n in base.nodes}
            nodes: list[NodeSpec] = []
            for h in self.pool.hosts:
                role = self.role(h)
                if role == "router":
                    continue
                spec = known.get(h) or _extrapolate(base, h)
                if spec is None:
                    continue
                nodes.append(dataclasses.replace(spec, role=role))
            nodes.sort(key=lambda n: n.role != "control-plane")  # the control plane first, like kubeadm
            self._topo = dataclasses.replace(base, nodes=nodes)
        return self._topo

    @property
    def hosts(self) -> list[str]:
        order = self._base_topology().hosts
        present = self.pool.hosts
        return [h for h in order if h in present] + [h for h in present if h not in order]

    @property
    def control_plane(self) -> str:
        for h in self.pool.hosts:
            if self.role(h) == "control-plane":
                return h
        raise NotFound(f"no control-plane host among {', '.join(self.pool.hosts)} "
                       "(name it k8s-m, or give it `role: control-plane` in the hosts YAML)")

    # -- lifecycle ------------------------------------------------------------------------------
    def _vagrant(self, *args: str, progress: Callable[[str], None] | None = None) -> None:
        exe = shutil.which("vagrant")
        if exe is None or self.vagrant_dir is None:
            raise LabError("`vagrant` is not installed here (or no vagrant_dir was given)")
        p = subprocess.Popen([exe, *args], cwd=self.vagrant_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, stdin=subprocess.DEVNULL)
        tail: list[str] = []
        for line in p.stdout:
            tail = (tail + [line.rstrip()])[-40:]
            if progress:
                progress(line.rstrip())
        if p.wait() != 0:
            raise LabError(f"`vagrant {' '.join(args)}` failed in {self.vagrant_dir}:\n" + "\n".join(tail))

    def up(self, progress: Callable[[str], None] | None = _progress_print) -> bool:
        """With vagrant_dir: `vagrant up` (provisions new VMs), then connect; else connect and check every host."""
        started = False
        if self.vagrant_dir is not None and self.ssh_config is None and self.hosts_yaml is None:
            self._vagrant("up", progress=progress)
            self.close()
            self._pool = None  # forwarded ports may have changed: read ssh-config again
            started = True
        errors = {h: e for h, e in self.pool.connect_all().items() if e is not None}
        if errors:
            raise LabError("cannot reach " + "; ".join(f"{h}: {e}" for h, e in errors.items()))
        if progress:
            progress(f"connected to {', '.join(self.hosts)} ({self.source})")
        return started

    def down(self) -> list[str]:
        """Close every connection; with vagrant_dir also `vagrant halt` the VMs."""
        self.close()
        if self.vagrant_dir is not None and self.ssh_config is None and self.hosts_yaml is None:
            self._vagrant("halt")
            return ["vagrant halt"]
        return []

    def close(self) -> None:
        self.kube.close()
        if self._pool is not None:
            self._pool.close()

    def status_rows(self) -> list[dict]:
        results = self.pool.run_all("ip -4 -o addr show scope global", timeout=self.connect_timeout + 5)
        rows = []
        for h in self.hosts:
            r, ep = results[h], self.pool.host(h).ep
            addrs = ", ".join(f"{ln.split()[3]}" for ln in r.stdout.splitlines() if len(ln.split()) > 3)
            rows.append({"host": h, "role": self.role(h), "endpoint": f"{ep.user}@{ep.address}",
                         "running": r.exit_status == 0, "addresses": addrs,
                         "error": "" if r.exit_status == 0 else (r.stderr.strip() or f"exit {r.exit_status}")})
        return rows

    # -- commands -------------------------------------------------------------------------------
    def sh(self, host: str, cmd: str, timeout: float = 60, check: bool = True, input: str | None = None,
           sudo: bool | None = None) -> str:
        return self.pool.sh(host, cmd, timeout=timeout, check=check, input=input, sudo=sudo)

    def sh_all(self, cmd: str, hosts: list[str] | None = None, timeout: float = 60, check: bool = True,
               sudo: bool | None = None) -> dict[str, str]:
        """CMD on every host (or HOSTS) in parallel; host -> stdout."""
        return self.pool.sh_all(cmd, hosts or self.hosts, timeout=timeout, check=check, sudo=sudo)

    def stream(self, host: str, cmd: str, sudo: bool | None = None) -> RemoteProcess:
        return self.pool.stream(host, cmd, sudo=sudo)

    def upload(self, host: str, data: bytes | str | Path, remote: str, mode: int | None = None,
               sudo: bool = False) -> None:
        """Bytes, text or a local file (a Path) to REMOTE on HOST (SFTP)."""
        self.pool.upload(host, data, remote, mode=mode, sudo=sudo)

    def download(self, host: str, remote: str, local: str | Path, sudo: bool = False) -> Path:
        return self.pool.download(host, remote, local, sudo=sudo)

    def kubectl(self, args: str, input: str | None = None, check: bool = True) -> str:
        return self.sh(self.control_plane, f"kubectl {args}", input=input, check=check)

    def calicoctl(self, args: str, input: str | None = None, check: bool = True) -> str:
        return self.sh(self.control_plane, f"calicoctl {args}", input=input, check=check)

    def exec_pod(self, pod_key: str, cmd: str, timeout: float = 30, check: bool = True) -> str:
        """CMD in a pod ("ns/pod" or "pod") with `kubectl exec` on the control plane; where the image
        has no such program, with the node's tools in the pod's network namespace (`..podns`)."""
        ns, _, pod = pod_key.rpartition("/")
        ns = ns or "default"
        argv = ["sh", "-c", cmd] if _SHELL_CHARS.search(cmd) else shlex.split(cmd)
        r = self.pool.run(self.control_plane, f"kubectl exec -n {shlex.quote(ns)} {shlex.quote(pod)} -- "
                          f"{shlex.join(argv)}", timeout=timeout)
        if r.exit_status != 0 and NO_SUCH_PROGRAM.search(r.stdout + r.stderr):
            # the image lacks the program (traefik/whoami holds no shell): the pod's node runs it with
            # its own tools inside the pod's network namespace, as the embedded lab does
            where = pod_node_and_ip(self.kubectl, ns, pod)
            if where:
                r = self.pool.run(where[0], "sh -s", input=exec_script(where[1], cmd), timeout=timeout, sudo=True)
        if check and r.exit_status != 0:
            raise CommandError(f"{ns}/{pod}", cmd, r.exit_status, r.stderr, r.stdout)
        return r.stdout

    def probe(self, pairs: list[tuple[str, str]], port: int, protocol: str = "TCP",
              timeout: float = 1.0) -> list[bool]:
        """Connection attempts from client pods ("ns/pod") to server IPs, made inside each client
        pod's network namespace on its node (see `probe.py`); one bool per pair."""
        from .probe import probe

        return probe(self, pairs, port, protocol, timeout)

    def capture(self, host: str, bpf: str = "", iface: str = "any", count: int = 10000, seconds: float = 60,
                directory: str | None = None) -> SSHCapture:
        return SSHCapture(self.pool.host(host), bpf=bpf, iface=iface, count=count, seconds=seconds,
                          directory=directory)

    # -- Kubernetes objects -----------------------------------------------------------------------
    def kubeconfig(self) -> dict:
        return self.kube.kubeconfig()

    def api_client(self):
        """kubernetes.client.ApiClient through an SSH tunnel to the API server, or None."""
        return self.kube.api_client()

    def pods(self) -> pd.DataFrame:
        return self.kube.frame("pods")

    def nodes(self) -> pd.DataFrame:
        return self.kube.frame("nodes")

    def policies(self) -> pd.DataFrame:
        return self.kube.frame("networkpolicies")


def _extrapolate(base: Topology, name: str) -> NodeSpec | None:
    """A node the topology does not list but the Vagrantfile makes (k8s-w3 with 3 workers): numbered like
    its siblings (k8s-w1 .101 -> k8s-w3 .103)."""
    m = re.fullmatch(r"(.*?)(\d+)", name)
    if not m:
        return None
    for n in base.nodes:
        mm = re.fullmatch(r"(.*?)(\d+)", n.name)
        if mm and mm.group(1) == m.group(1) and int(mm.group(2)) >= 1 and n.subnet == base.nodes[0].subnet:
            ip = n.interface.ip + (int(m.group(2)) - int(mm.group(2)))
            iface = ipaddress.IPv4Interface(f"{ip}/{n.interface.network.prefixlen}")
            if iface.network != n.network:
                return None
            return dataclasses.replace(n, name=name, interface=iface)
    return None
