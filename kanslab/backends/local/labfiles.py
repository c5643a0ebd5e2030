"""The files a real node or pod holds, written into the state-dir directories mntns bind-mounts.

Nodes: /etc/cni/net.d/10-calico.conflist and calico-kubeconfig (Calico v3.28's install-cni, manifest
install), /var/lib/calico/{nodename,mtu} (calico-node), and on the control plane ~/manifests (the
course's manifests, as the Vagrant lab provisions them). Pods: /etc/resolv.conf, /etc/hosts and
/etc/hostname as kubelet writes them, and the service-account volume.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
import uuid
from importlib import resources
from pathlib import Path

from .mntns import files_dir
from .names import Names

# calico.yaml v3.28.1 (`manifests/calico.yaml`, ConfigMap calico-config, key cni_network_config), the
# template install-cni fills in (cni-plugin/pkg/install/install.go: plain strings.Replace of the
# __PLACEHOLDERS__, then written as is: no trailing newline, the block scalar is `|-`).
CNI_NETWORK_CONFIG = """{
  "name": "k8s-pod-network",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "calico",
      "log_level": "info",
      "log_file_path": "/var/log/calico/cni/cni.log",
      "datastore_type": "kubernetes",
      "nodename": "__KUBERNETES_NODE_NAME__",
      "mtu": __CNI_MTU__,
      "ipam": {
          "type": "calico-ipam"
      },
      "policy": {
          "type": "k8s"
      },
      "kubernetes": {
          "kubeconfig": "__KUBECONFIG_FILEPATH__"
      }
    },
    {
      "type": "portmap",
      "snat": true,
      "capabilities": {"portMappings": true}
    },
    {
      "type": "bandwidth",
      "capabilities": {"bandwidth": true}
    }
  ]
}"""
VETH_MTU = "0"  # calico.yaml v3.28's calico-config `veth_mtu`: 0 = Felix auto-detects
CNI_NET_DIR = "/etc/cni/net.d"

# install.go writeKubeconfig's template
CALICO_KUBECONFIG = """# Kubeconfig file for Calico CNI plugin.
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://[__KUBERNETES_SERVICE_HOST__]:__KUBERNETES_SERVICE_PORT__
    certificate-authority-data: __CA__
users:
- name: calico
  user:
    token: __TOKEN__
contexts:
- name: calico-context
  context:
    cluster: local
    user: calico
current-context: calico-context"""

def conflist(node: str) -> str:
    return (CNI_NETWORK_CONFIG.replace("__KUBERNETES_NODE_NAME__", node).replace("__CNI_MTU__", VETH_MTU)
            .replace("__KUBECONFIG_FILEPATH__", f"{CNI_NET_DIR}/calico-kubeconfig"))


def course_manifests() -> list[Path]:
    """The course's manifests shipped in the package (kanslab/course_manifests/*.yaml)."""
    root = resources.files("kanslab") / "course_manifests"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml"))


# Ubuntu's /etc/resolv.conf (systemd-resolved's stub, as on the Vagrant boxes): in the lab nothing
# answers on 127.0.0.53, so a name outside the lab fails at once, without a packet leaving the host
NODE_RESOLV_CONF = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n"
MANIFESTS_HOME = "/root/manifests"


def write_host_files(names: Names, topo, host: str) -> None:
    """Before the host's mount namespace exists: its /etc/resolv.conf (the /etc overlay's upper layer),
    its /root (with ~/manifests on the control plane) and its offline curl."""
    d = files_dir(names, host)
    etc = d / "overlay-etc" / "upper"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text(NODE_RESOLV_CONF)
    # KANS init_cfg.sh (TASK 4) adds the nodes to /etc/hosts, so `ping k8s-w1` works on every host
    (etc / "hosts").write_text("127.0.0.1 localhost\n" + "".join(f"{n.ip} {n.name}\n" for n in topo.nodes))
    curl = names.host_dir(host) / "bin" / "curl"
    curl.parent.mkdir(parents=True, exist_ok=True)
    curl.write_text(offline_curl(topo.control_plane))
    curl.chmod(0o755)
    root = d / "root"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    if host == topo.control_plane:
        m = root / "manifests"
        m.mkdir(exist_ok=True)
        for f in course_manifests():
            shutil.copyfile(f, m / f.name)


def local_copy(url: str) -> str | None:
    """Where the lab keeps the course manifest URL names (by file name), else None."""
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return f"{MANIFESTS_HOME}/{name}" if name in {p.name for p in course_manifests()} else None


def offline_curl(control_plane: str) -> str:
    """A curl in front of the real one on a lab host: a URL of one of the course's manifests fails as
    curl fails without DNS (exit 6) and says where the local copy is; anything else goes to curl."""
    names = " ".join(p.name for p in course_manifests())
    return rf"""#!/bin/sh
silent=0; show=0
for a in "$@"; do
  case "$a" in
    --silent) silent=1 ;;
    --show-error) show=1 ;;
    --*) ;;
    -*s*S*|-*S*s*) silent=1; show=1 ;;
    -*s*) silent=1 ;;
    -*S*) show=1 ;;
  esac
done
for a in "$@"; do
  case "$a" in
    http://*|https://*)
      host=${{a#*://}}; host=${{host%%/*}}; host=${{host%%:*}}; file=${{a%%\?*}}; file=${{file##*/}}
      case " {names} " in
        *" $file "*)
          # -s hides curl's own error unless -S shows it
          [ $silent = 1 ] && [ $show = 0 ] || echo "curl: (6) Could not resolve host: $host" >&2
          echo "kanslab: the lab's hosts have no internet; the course's copy is {MANIFESTS_HOME}/$file on {control_plane}" >&2
          exit 6 ;;
      esac ;;
  esac
done
exec /usr/bin/curl "$@"
"""


def write_node_files(names: Names, topo, node: str, ca_pem: bytes | None = None,
                     token: str = "") -> None:
    """calico-node's files on NODE (install-cni's and calico-node's); Felix writes `mtu` when it starts."""
    d = files_dir(names, node)
    net, lib = d / "etc-cni-net.d", d / "var-lib-calico"
    net.mkdir(parents=True, exist_ok=True)
    lib.mkdir(parents=True, exist_ok=True)
    (net / "10-calico.conflist").write_text(conflist(node))
    svc_ip = str(next(topo.cluster.service_cidr.hosts()))
    kc = net / "calico-kubeconfig"
    kc.write_text(CALICO_KUBECONFIG.replace("__KUBERNETES_SERVICE_HOST__", svc_ip)
                  .replace("__KUBERNETES_SERVICE_PORT__", "443")
                  .replace("__CA__", base64.b64encode(ca_pem or b"").decode()).replace("__TOKEN__", token))
    kc.chmod(0o600)
    (lib / "nodename").write_text(node)  # calico-node writes the bare name, no newline


# kubelet's managedHostsFileContent (pkg/kubelet/kubelet_pods.go)
HOSTS_HEADER = ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")


def pod_hostname(pod: dict) -> str:
    return (pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"]


def resolv_conf(namespace: str, dns_ip: str, domain: str = "cluster.local", node_search: tuple[str, ...] = ()) -> str:
    """kubelet's ClusterFirst resolv.conf (pkg/kubelet/network/dns/dns.go): the cluster's search
    domains, then the node's (the lab's nodes have none), the kube-dns Service, ndots:5."""
    search = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *node_search]
    return f"search {' '.join(search)}\nnameserver {dns_ip}\noptions ndots:5\n"


def hosts_file(pod: dict, ips: list[str]) -> str:
    text = HOSTS_HEADER + "".join(f"{ip}\t{pod_hostname(pod)}\n" for ip in ips)
    aliases = (pod.get("spec") or {}).get("hostAliases") or []
    if aliases:
        text += "\n# Entries added by HostAliases.\n" + "".join(
            f"{a['ip']}\t{chr(9).join(a.get('hostnames') or [])}\n" for a in aliases)
    return text


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_token(key_pem: bytes, pod: dict | None, node: str | None, namespace: str = "default",
                          service_account: str = "default", issued: float | None = None) -> str:
    """A bound service-account token shaped as kube-apiserver 1.30 issues it to kubelet (claims of
    pkg/serviceaccount/claims.go: a year's validity with warnafter at kubelet's 3607 s), signed with
    the lab's API key (ES256: the lab's PKI is EC). Hand-written JWS: two base64 parts and a
    signature are all a JWT is, and no JWT library is among the lab's dependencies."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = serialization.load_pem_private_key(key_pem, password=None)
    pub = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(pub)
    kid = _b64url(digest.finalize())
    ns, sa = namespace, service_account
    if pod is not None:
        ns = pod["metadata"].get("namespace", "default")
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    now = int(issued if issued is not None else time.time())
    issuer = "https://kubernetes.default.svc.cluster.local"
    bound: dict = {"namespace": ns}
    if node:  # a token kubelet requests for a pod is bound to it and its node
        bound["node"] = {"name": node, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"node/{node}"))}
    if pod is not None:
        bound["pod"] = {"name": pod["metadata"]["name"], "uid": pod["metadata"].get("uid", "")}
    bound["serviceaccount"] = {"name": sa, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sa/{ns}/{sa}"))}
    if pod is not None:
        bound["warnafter"] = now + 3607
    claims = {"aud": [issuer], "exp": now + (31536000 if pod is not None else 86400), "iat": now, "iss": issuer,
              "jti": str(uuid.uuid4()), "kubernetes.io": bound, "nbf": now,
              "sub": f"system:serviceaccount:{ns}:{sa}"}
    head = _b64url(json.dumps({"alg": "ES256", "kid": kid}, separators=(",", ":")).encode())
    body = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def cni_token(key_pem: bytes) -> str:
    """The token install-cni puts in calico-kubeconfig: a TokenRequest for kube-system's
    calico-cni-plugin service account (calico.yaml v3.28), valid a day (CNI_TOKEN_VALIDITY_SECONDS)."""
    return service_account_token(key_pem, None, None, "kube-system", "calico-cni-plugin")


def write_pod_files(names: Names, key: str, pod: dict, ips: list[str], node: str, dns_ip: str,
                    pki: Path) -> None:
    """Before the pod's mount namespace exists: the overlay's upper /etc files, /root, and /run with
    the service-account volume (/var/run is /run) when the pod mounts one, as kubelet does."""
    d = files_dir(names, key)
    etc = d / "overlay-etc" / "upper"
    etc.mkdir(parents=True, exist_ok=True)
    ns = pod["metadata"].get("namespace", "default")
    (etc / "resolv.conf").write_text(resolv_conf(ns, dns_ip))
    (etc / "hosts").write_text(hosts_file(pod, ips))
    (etc / "hostname").write_text(pod_hostname(pod) + "\n")
    root = d / "root"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    # zsh asks a new user to configure it (zsh-newuser-install) when no startup file exists
    (root / ".zshrc").write_text("PROMPT='%m:%~# '\n")
    run = d / "run"
    run.mkdir(parents=True, exist_ok=True)
    if (pod.get("spec") or {}).get("automountServiceAccountToken") is False:
        return
    sa = run / "secrets" / "kubernetes.io" / "serviceaccount"
    sa.mkdir(parents=True, exist_ok=True)
    if (pki / "ca.crt").exists():
        shutil.copyfile(pki / "ca.crt", sa / "ca.crt")
    if (pki / "apiserver.key").exists():
        (sa / "token").write_text(service_account_token((pki / "apiserver.key").read_bytes(), pod, node))
    (sa / "namespace").write_text(ns)
