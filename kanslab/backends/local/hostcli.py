"""`calicoctl` and `kubectl` as found on the lab's hosts: the emulator's CLIs plus a reconcile.

The wrappers in each host's bin/ run this module inside that host's namespace. A command that
changed the datastore asks the lab agent to apply the change before returning, so the next
command already sees routes, pods and rules in place.
"""

from __future__ import annotations

import argparse
import sys

from .agent_client import request
from .daemons import bird_socket_query
from .labinfo import load_lab


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("tool", choices=["calicoctl", "kubectl", "prometheus"])
    args, rest = ap.parse_known_args(argv)
    if args.tool == "prometheus":  # start the lab's Prometheus (for a caller without the agent's socket)
        import json

        resp = request(str(load_lab(args.prefix).names.agent_socket), "prometheus")
        sys.stdout.write(json.dumps(resp) + "\n")
        return 0 if resp.get("ok") else 1
    from ...emulator import cli

    lab = load_lab(args.prefix)
    if args.tool == "kubectl" and rest[:1] == ["exec"]:
        return _kubectl_exec(lab, rest[1:])
    if args.tool == "kubectl" and rest[:1] and rest[0] not in EMULATED_VERBS and not rest[0].startswith("-"):
        if _real_kubectl(lab, args.host):
            return _run_real_kubectl(lab, args.host, rest)
        sys.stderr.write(
            f"error: 'kubectl {rest[0]}' is kubectl's own code: the lab's kubectl hands it to this machine's "
            "kubectl (v1.30, talking to the lab's Kubernetes API), and there is none on PATH. Install kubectl "
            "(https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/) and run the command again.\n")
        return 1
    if args.tool == "kubectl":
        offline = _offline_url(rest)
        if offline:
            sys.stderr.write(offline)
            return 1
    ds = lab.datastore()
    stdin = ""
    if "-" in rest and not sys.stdin.isatty():
        stdin = sys.stdin.read()
    ctl = str(lab.names.bird_ctl(args.host))

    def bird_show_protocols() -> str:
        return bird_socket_query(ctl, "show protocols")

    ctx = cli.CliContext(ds=ds, topology=lab.topology, stdin=stdin, node=args.host,
                         bird_show_protocols=bird_show_protocols)
    before = ds.revision()
    rc, out, err = (cli.calicoctl if args.tool == "calicoctl" else cli.kubectl)(rest, ctx)
    if ds.revision() != before:
        # a lab of 100 nodes reprograms every node when a node's label changes: allow it the time
        resp = request(str(lab.names.agent_socket), "reconcile", timeout=max(60.0, 2.0 * len(lab.topology.nodes)))
        if not resp.get("ok"):
            err += f"\nthe lab agent could not apply the change: {resp.get('error')}\n"
            rc = rc or 1
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


# the verbs the emulator's kubectl answers itself (exec runs in the lab's dataplane, above); every other
# verb (describe, logs, top, explain, ...) is kubectl's own code, a client of the lab's Kubernetes API
EMULATED_VERBS = ("get", "apply", "create", "delete", "label", "patch", "version", "wait", "exec")


def _real_kubectl(lab, host: str) -> str | None:
    """The machine's own kubectl (not this host's wrapper), if it has one."""
    import os
    import shutil

    own = str(lab.names.host_dir(host) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != own)
    return shutil.which("kubectl", path=path)


def _run_real_kubectl(lab, host: str, argv: list[str]) -> int:
    """`kubectl describe|logs|...` on a lab host: the real kubectl with the lab's admin.conf, which names
    the API at the control plane's 192.168.10.10:6443 as kubeadm's does, so `describe` and `logs`
    print exactly what they print on a cluster."""
    import os

    from .kubeapi_certs import pki_dir

    real = _real_kubectl(lab, host)
    os.execv(real, [real, "--kubeconfig", str(pki_dir(lab.names) / "admin.conf"), *argv])
    return 0


def _offline_url(argv: list[str]) -> str | None:
    """`kubectl apply -f https://...`: the lab's hosts have no internet; name the local copy if any."""
    from urllib.parse import urlsplit

    from .labfiles import local_copy

    for i, a in enumerate(argv):
        url = argv[i + 1] if a in ("-f", "--filename") and i + 1 < len(argv) else (
            a.split("=", 1)[1] if a.startswith(("-f=", "--filename=")) else None)
        if url and url.startswith(("http://", "https://")):
            copy = local_copy(url)
            hint = (f"the course's copy is {copy}: kubectl apply -f {copy}" if copy
                    else "the lab has no copy of it")
            return (f'error: unable to read URL "{url}": Get "{url}": dial tcp: lookup '
                    f"{urlsplit(url).hostname}: no such host\n"
                    f"kanslab: the lab's hosts have no internet; {hint}\n")
    return None


def _kubectl_exec(lab, argv: list[str]) -> int:
    """`kubectl exec [-n NS] [-c CONTAINER] [-it] POD -- CMD...`: run CMD in the pod's network namespace
    with this node's tools, unless the container's image is known to lack the program (as a real
    cluster refuses it)."""
    import os

    from ...emulator.images import exec_refusal, on_machine
    from .mntns import enter_argv

    namespace, pod, container, cmd = "default", None, None, []
    if "--" in argv:
        cmd = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    it = iter(argv)
    for a in it:
        if a in ("-n", "--namespace"):
            namespace = next(it, "default")
        elif a.startswith("--namespace="):
            namespace = a.split("=", 1)[1]
        elif a in ("-c", "--container"):
            container = next(it, None)
        elif a.startswith("--container="):
            container = a.split("=", 1)[1]
        elif a.startswith("-"):
            continue  # -i, -t, -it
        elif pod is None:
            pod = a
    if pod is None or not cmd:
        sys.stderr.write("error: usage: kubectl exec [-n NAMESPACE] POD -- COMMAND [args...]\n")
        return 1
    obj = lab.datastore().get("Pod", pod, namespace)
    if obj is None:
        sys.stderr.write(f'Error from server (NotFound): pods "{pod}" not found\n')
        return 1
    containers = obj["spec"]["containers"]
    chosen = next((c for c in containers if c["name"] == container), None) if container else containers[0]
    if chosen is None:
        sys.stderr.write(f"error: container {container} not found in pod {pod}\n")
        return 1
    refusal = exec_refusal(chosen.get("image", ""), cmd[0],
                           None if obj["spec"].get("hostNetwork") else on_machine)
    if refusal:
        sys.stderr.write(refusal)
        return 126
    if obj["spec"].get("hostNetwork"):  # calico-node, kube-proxy, static pods: the node's namespace and tools
        node = obj["spec"]["nodeName"]
        path = f"{lab.names.host_dir(node) / 'bin'}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        argv = [*enter_argv(lab.names, node, lab.names.host(node)), "env", f"PATH={path}", *cmd]
    else:  # the pod's network, mount and UTS namespaces: its hostname, /etc/hosts, resolv.conf, token
        netns = lab.names.pod(namespace, pod)
        argv = [*enter_argv(lab.names, netns, netns, wd="/root"), *cmd]
    os.execvp(argv[0], argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
