"""`kanslab up|down|status|ssh|forward|doctor|record|translate`: the lab (and the course) from a terminal."""

from __future__ import annotations

import argparse
import os
import sys

from .errors import KanslabError


def _backend(args):
    from .backends.local import LocalBackend

    return LocalBackend(prefix=args.prefix, topology=args.topology, workers=getattr(args, "workers", None))


def cmd_up(args) -> int:
    _backend(args).up()
    return 0


def cmd_down(args) -> int:
    b = _backend(args)
    if not b.rec.exists():
        print(f"no lab {b.prefix!r} to tear down")
        return 0
    log = b.down()
    print(f"lab {b.prefix!r} is down ({len(log)} objects removed)")
    return 0


def cmd_status(args) -> int:
    import pandas as pd

    b = _backend(args)
    if not b.rec.exists():
        print(f"no lab {b.prefix!r}")
        return 1
    print(pd.DataFrame(b.status_rows()).to_string(index=False))
    try:
        info = b.agent_info()
        print(f"\nagent pid {info['pid']}; IPIP path: {'kernel ipip' if info['kernel_ipip'] else 'user-space TUN tunl0'}")
    except OSError:
        print("\nagent: not running")
    for n in b.topology.nodes:
        out = b.sh(n.name, "birdcl show protocols", check=False)
        rows = [ln for ln in out.splitlines() if " BGP " in ln]
        print(f"\n{n.name}:\n  " + "\n  ".join(rows or ["(no BGP sessions)"]))
    return 0


def cmd_ssh(args) -> int:
    b = _backend(args)
    b._ns(args.host)  # a clear error for an unknown host
    if b.via_ssh:  # a terminal through the lab's loopback SSH door with the user's ssh client, like `vagrant ssh`
        argv = ["ssh", "-F", str(b.names.dir / "ssh_config"), args.host] + (
            [] if not args.command else ["--", " ".join(args.command)])
        os.execvp(argv[0], argv)
    from .backends.local.network import host_env

    env = host_env(b.names, args.host)
    rc = str(b.names.host_dir(args.host) / "bashrc")
    from .backends.local.mntns import enter_argv

    cmd = [*enter_argv(b.names, args.host, b.names.host(args.host), wd="/root")] + (
        ["bash", "--rcfile", rc, "-i"] if not args.command else ["bash", "-c", " ".join(args.command)])
    os.execvpe(cmd[0], cmd, env)
    return 0


def cmd_forward(args) -> int:
    from .backends.local.forward import Forwarder, parse_target

    b = _backend(args)
    if not b.rec.exists():
        print(f"no lab {b.prefix!r}", file=sys.stderr)
        return 1
    target = parse_target(args.target, b.topology)
    via = args.via or b.topology.control_plane
    netns = b._ns(via)  # a clear error for an unknown host
    fwd = Forwarder(target, netns, args.port if args.port is not None else target[1])
    print(f"{fwd.url} -> {target[0]}:{target[1]} (from {via}); Ctrl-C stops", flush=True)
    try:
        fwd.serve_forever()
    except KeyboardInterrupt:
        fwd.stop.set()
    print("forward stopped")
    return 0


def _prometheus_version() -> str:
    import subprocess

    from .backends.local.prom import binary

    exe = binary()
    if exe is None:
        return "not installed (apt-get install --no-install-recommends prometheus; the lab runs it itself)"
    p = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    return ((p.stdout or p.stderr).splitlines() or ["?"])[0]


def cmd_doctor(args) -> int:
    from .backends.local.daemons import tools_missing
    from .backends.local.probe import daemon_versions, kernel_features

    root = os.geteuid() == 0
    print(f"running as root: {root}")
    missing = tools_missing()
    print("packages: " + ("all present" if not missing else "missing " + " ".join(missing)))
    for name, version in daemon_versions().items():
        print(f"  {name}: {version}")
    print("  prometheus (chapter 05): " + _prometheus_version())
    if not root:
        print("kernel features: run `sudo kanslab doctor` to probe them")
        return 0 if not missing else 1
    feats = kernel_features()
    for kind, ok in feats.items():
        print(f"kernel {kind}: {'yes' if ok else 'no'}")
    print("IPIP path: " + ("kernel ipip (tunl0 is a real ipip device)" if feats["ipip"]
                           else "user-space encapsulator on a TUN device named tunl0 (no ipip module)"))
    needed = [k for k in ("veth", "bridge", "vxlan", "tun") if not feats[k]]
    if needed:
        print("the lab cannot run here: the kernel lacks " + ", ".join(needed))
    return 0 if not (missing or needed) else 1


def cmd_record(args) -> int:
    """Record every chapter (or those named) on a fresh embedded lab of its own, for the replay backend."""
    from .backends.local.names import DEFAULT_PREFIX
    from .backends.replay.record import record_chapters

    # the default lab is the user's own: recording builds and tears down a lab of its own instead
    prefix = args.prefix if args.prefix != DEFAULT_PREFIX else f"kr{os.getpid() % 100000}"
    failed = record_chapters(args.chapters, out=args.out, notebooks=args.notebooks, prefix=prefix,
                             timeout=args.timeout)
    return 1 if failed else 0


def cmd_translate(args) -> int:
    """Build (or check) a translated edition of the chapters from their translation files."""
    from . import i18n

    if args.todo:
        import yaml

        todo = i18n.todo(args.notebooks, args.lang)
        with open(args.todo, "w", encoding="utf-8") as f:
            yaml.safe_dump(todo, f, allow_unicode=True, sort_keys=False, width=120)
        print(f"{sum(len(v) for v in todo.values())} cells to translate, written to {args.todo}")
        return 0
    written = i18n.build(args.notebooks, args.lang, check=args.check)
    print(f"the {args.lang} edition is up to date" if args.check else
          f"wrote {len(written)} chapters to {args.notebooks}/{args.lang}/")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="kanslab", description="The embedded Calico lab of the kanslab course")
    from .backends.local.names import DEFAULT_PREFIX, default_prefix

    ap.add_argument("--prefix", default=default_prefix(),
                    help=f"lab prefix (default: KANSLAB_PREFIX, else {DEFAULT_PREFIX})")
    ap.add_argument("--topology", default="kans3", help="packaged topology name or YAML path")
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="bring the embedded lab up (root)")
    u.add_argument("--workers", type=int, default=None, metavar="N",
                   help="workers k8s-w0..k8s-wN (default: the topology's own); the extra ones alternate racks "
                        "by the topology's extra_workers rule")
    u.set_defaults(fn=cmd_up)
    sub.add_parser("down", help="tear the lab down from its record").set_defaults(fn=cmd_down)
    sub.add_parser("status", help="hosts, agent and BGP sessions").set_defaults(fn=cmd_status)
    s = sub.add_parser("ssh", help="a shell on a lab host, like `vagrant ssh`")
    s.add_argument("host")
    s.add_argument("command", nargs="*")
    s.set_defaults(fn=cmd_ssh)
    f = sub.add_parser("forward", help="open a loopback port on this machine to a lab address (e.g. NodePort 30001)")
    f.add_argument("target", help="a NodePort on the control plane (30001) or host:port (k8s-w1:9091, 192.168.10.10:30001)")
    f.add_argument("--port", type=int, default=None, help="local port on 127.0.0.1 (default: the target's; 0: any free)")
    f.add_argument("--via", default=None, help="lab host whose network the connections start from (default: control plane)")
    f.set_defaults(fn=cmd_forward)
    sub.add_parser("doctor", help="kernel features, daemons and the IPIP path in use").set_defaults(fn=cmd_doctor)
    r = sub.add_parser("record", help="run the chapters on a fresh lab and record transcripts for `replay` (root)")
    r.add_argument("chapters", nargs="*", help="chapter notebooks or their numbers (default: all)")
    r.add_argument("--notebooks", default="notebooks", help="where the chapters are (default notebooks)")
    r.add_argument("--out", default=None, help="where transcripts go (default <notebooks>/replay)")
    r.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default 600)")
    r.set_defaults(fn=cmd_record)
    t = sub.add_parser("translate", help="build the translated edition (notebooks/<lang>/) from the chapters "
                                         "and their translation files")
    t.add_argument("--lang", default="ko", help="edition (default ko)")
    t.add_argument("--notebooks", default="notebooks", help="where the chapters are (default notebooks)")
    t.add_argument("--check", action="store_true", help="write nothing; fail when an edition is stale")
    t.add_argument("--todo", metavar="FILE", help="write the markdown cells still to translate to FILE (YAML)")
    t.set_defaults(fn=cmd_translate)
    for p in sub.choices.values():  # `kanslab down --prefix X` as well as `kanslab --prefix X down`
        p.add_argument("--prefix", default=argparse.SUPPRESS, help="lab prefix (as before the subcommand)")
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except KanslabError as e:
        print(f"kanslab: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
