"""Core objects and a Deployment through the real kubectl against the lab's API: the controller's pods
get pool addresses in their own network namespaces, scaling changes the count, deleting cascades."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.lab.conftest import real_kubectl

pytestmark = pytest.mark.lab

MANIFEST = """apiVersion: v1
kind: ConfigMap
metadata: {name: objcfg}
data: {prometheus.yml: "global: {scrape_interval: 15s}"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: objreader}
rules:
- apiGroups: [""]
  resources: [nodes, services, endpoints, pods]
  verbs: [get, list, watch]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: objweb}
spec:
  replicas: %d
  selector: {matchLabels: {app: objweb}}
  template:
    metadata: {labels: {app: objweb}}
    spec:
      containers: [{name: whoami, image: traefik/whoami}]
"""



kubectl = real_kubectl


def _pods(kubeconfig) -> list[dict]:
    return json.loads(kubectl(kubeconfig, "get", "pods", "-l", "app=objweb", "-o", "json").stdout)["items"]


def test_deployment_pods_run_scale_and_go_with_it(lab, kubeconfig):
    try:
        out = kubectl(kubeconfig, "apply", "-f", "-", input=MANIFEST % 2).stdout
        assert out.splitlines() == ["configmap/objcfg created",
                                    "clusterrole.rbac.authorization.k8s.io/objreader created",
                                    "deployment.apps/objweb created"]
        assert kubectl(kubeconfig, "wait", "--for=condition=Available", "deployment/objweb",
                       "--timeout=60s").stdout == "deployment.apps/objweb condition met\n"
        assert "prometheus.yml" in kubectl(kubeconfig, "describe", "configmap", "objcfg").stdout
        pods = _pods(kubeconfig)
        assert len(pods) == 2
        pool = ipaddress.ip_network(lab.topology.cluster.pod_cidr)
        for p in pods:
            assert p["status"]["phase"] == "Running"
            ip = p["status"]["podIP"]
            assert ipaddress.ip_address(ip) in pool
            assert lab.pod_ip(f"default/{p['metadata']['name']}") == ip
            # the CNI path built the pod's own namespace, with the controller-made pod's address on eth0
            assert f"inet {ip}/32" in lab.exec(f"default/{p['metadata']['name']}", "ip -4 addr show dev eth0")
        kubectl(kubeconfig, "apply", "-f", "-", input=MANIFEST % 3)
        kubectl(kubeconfig, "wait", "--for=jsonpath={.status.readyReplicas}=3", "deployment/objweb",
                "--timeout=60s")
        assert len(_pods(kubeconfig)) == 3
        table = kubectl(kubeconfig, "get", "deploy", "objweb").stdout.splitlines()
        assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        assert table[1].split()[:4] == ["objweb", "3/3", "3", "3"]
        rs = kubectl(kubeconfig, "get", "rs", "-l", "app=objweb").stdout.splitlines()
        assert rs[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] and rs[1].split()[1:4] == ["3"] * 3
        ks = kubectl(kubeconfig, "get", "ds,deploy,rs", "-n", "kube-system").stdout
        assert "daemonset.apps/calico-node" in ks and "replicaset.apps/coredns-55cb58b774" in ks
        assert kubectl(kubeconfig, "delete", "deployment", "objweb").stdout == 'deployment.apps "objweb" deleted\n'
        assert _pods(kubeconfig) == []
        assert "No resources found" in kubectl(kubeconfig, "get", "rs", "-l", "app=objweb").stderr
    finally:
        for what in ("deployment/objweb", "configmap/objcfg", "clusterrole/objreader"):
            kubectl(kubeconfig, "delete", what, "--ignore-not-found", check=False)
