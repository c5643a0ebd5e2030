"""The files the embedded lab gives its nodes and pods, as Calico and kubelet write them."""

from __future__ import annotations

import base64
import json
import subprocess

from kanslab.backends.local import labfiles

# /etc/cni/net.d/10-calico.conflist on a node of a calico.yaml v3.28 install (veth_mtu "0")
K8S_W1_CONFLIST = """{
  "name": "k8s-pod-network",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "calico",
      "log_level": "info",
      "log_file_path": "/var/log/calico/cni/cni.log",
      "datastore_type": "kubernetes",
      "nodename": "k8s-w1",
      "mtu": 0,
      "ipam": {
          "type": "calico-ipam"
      },
      "policy": {
          "type": "k8s"
      },
      "kubernetes": {
          "kubeconfig": "/etc/cni/net.d/calico-kubeconfig"
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


def test_conflist_as_install_cni_writes_it():
    assert labfiles.conflist("k8s-w1") == K8S_W1_CONFLIST


def test_resolv_conf_as_kubelet_writes_it():
    assert labfiles.resolv_conf("kube-system", "10.200.1.10") == (
        "search kube-system.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.200.1.10\n"
        "options ndots:5\n")


def test_hosts_file_as_kubelet_writes_it():
    pod = {"metadata": {"name": "pod1"}, "spec": {"hostAliases": [{"ip": "10.1.1.1", "hostnames": ["a", "b"]}]}}
    assert labfiles.hosts_file(pod, ["172.16.158.1"]) == (
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
        "172.16.158.1\tpod1\n\n# Entries added by HostAliases.\n10.1.1.1\ta\tb\n")
    assert labfiles.pod_hostname({"metadata": {"name": "x"}, "spec": {"hostname": "web"}}) == "web"


def test_token_is_signed_by_the_key_and_names_the_pod():
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pod = {"metadata": {"name": "pod1", "namespace": "default", "uid": "u1"}, "spec": {}}
    head, body, sig = labfiles.service_account_token(pem, pod, "k8s-w1", issued=1000).split(".")

    def dec(s):
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

    claims = json.loads(dec(body))
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["kubernetes.io"]["pod"] == {"name": "pod1", "uid": "u1"}
    assert claims["kubernetes.io"]["node"]["name"] == "k8s-w1"
    assert (claims["iat"], claims["kubernetes.io"]["warnafter"]) == (1000, 1000 + 3607)
    assert json.loads(dec(head))["alg"] == "ES256"
    raw = dec(sig)
    key.public_key().verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                            f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))


def test_the_course_manifests_have_local_copies():
    assert labfiles.local_copy("https://raw.githubusercontent.com/gasida/KANS/main/kans3/pod3-traefik.yaml") == \
        "/root/manifests/pod3-traefik.yaml"
    assert labfiles.local_copy("https://raw.githubusercontent.com/gasida/NDKS/main/5/node3-pod3.yaml?x=1") == \
        "/root/manifests/node3-pod3.yaml"
    assert labfiles.local_copy("https://example.com/other.yaml") is None


def test_offline_curl_fails_as_curl_does_and_names_the_copy(tmp_path):
    script = tmp_path / "curl"
    script.write_text(labfiles.offline_curl("k8s-m"))
    p = subprocess.run(["sh", str(script), "-s", "-O",
                        "https://raw.githubusercontent.com/gasida/NDKS/main/5/node3-pod3.yaml"],
                       capture_output=True, text=True, cwd=tmp_path)
    hint = "kanslab: the lab's hosts have no internet; the course's copy is /root/manifests/node3-pod3.yaml on k8s-m"
    assert p.returncode == 6
    assert p.stderr.splitlines() == [hint]  # -s: curl itself says nothing
    assert not (tmp_path / "node3-pod3.yaml").exists()
    for flags in (["-O"], ["-sSO"], ["--silent", "--show-error", "-O"]):
        p = subprocess.run(["sh", str(script), *flags,
                            "https://raw.githubusercontent.com/gasida/NDKS/main/5/node3-pod3.yaml"],
                           capture_output=True, text=True, cwd=tmp_path)
        assert (p.returncode, p.stderr.splitlines()) == (
            6, ["curl: (6) Could not resolve host: raw.githubusercontent.com", hint]), flags
    p = subprocess.run(["sh", str(script), "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("curl ")  # anything else is the real curl's
