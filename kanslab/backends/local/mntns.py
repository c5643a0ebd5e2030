"""Each lab host and each pod has its own mount and UTS namespace, beside its network namespace.

They are made with `unshare --mount=FILE --uts=FILE` run inside the network namespace, so they live
on (bind-mounted on FILE under <state>/ns/, a private mount as util-linux requires) without a holder
process, and every path that runs a command there enters all three with nsenter (`enter_argv`).

Inside, the machine's own /etc and /var/lib are overlays whose upper layers live in the lab's state
dir, and the directories a node or pod writes (/etc/cni/net.d, /var/lib/calico, /root, a pod's /run)
are bind mounts of state-dir directories: nothing is written to the machine's /etc, /var or /root,
and teardown (the record's "mount" entries) unmounts everything.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from ...errors import CommandError
from .names import Names
from .netns import run
from .record import Record, is_mountpoint


def ns_dir(names: Names) -> Path:
    return names.dir / "ns"


def ns_files(names: Names, key: str) -> tuple[Path, Path]:
    """The files holding KEY's (a host or a pod netns name) mount and UTS namespaces."""
    return ns_dir(names) / f"{key}.mnt", ns_dir(names) / f"{key}.uts"


def files_dir(names: Names, key: str) -> Path:
    """Where KEY's own files (bind-mounted and overlay layers) live in the state dir."""
    return names.dir / "files" / key


def ensure_ns_dir(names: Names, rec: Record) -> Path:
    """<state>/ns as a private bind mount of itself (a mount namespace file may only be bound there)."""
    d = ns_dir(names)
    d.mkdir(parents=True, exist_ok=True)
    if not is_mountpoint(d):
        rec.add("mount", path=str(d))
        run(["mount", "--bind", str(d), str(d)])
        run(["mount", "--make-private", str(d)])
    return d


def ensure_files_dir(names: Names, rec: Record) -> Path:
    """<state>/files, where the overlays' upper layers live. The kernel refuses an upper layer on
    overlayfs, which is where the state dir is in a container whose /run is not a tmpfs (Docker's
    default: its root filesystem is overlay2); there <state>/files gets a tmpfs of its own."""
    d = names.dir / "files"
    d.mkdir(parents=True, exist_ok=True)
    fstype = subprocess.run(["stat", "-f", "-c", "%T", str(d)], capture_output=True, text=True).stdout.strip()
    if fstype == "overlayfs" and not is_mountpoint(d):
        rec.add("mount", path=str(d))
        run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(d)])
    return d


def _overlay(target: str, layers: Path) -> str:
    upper, work = layers / "upper", layers / "work"
    upper.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    return (f"mount -t overlay overlay -o lowerdir={target},upperdir={shlex.quote(str(upper))},"
            f"workdir={shlex.quote(str(work))} {target}")


def _bind(source: Path, target: str) -> str:
    source.mkdir(parents=True, exist_ok=True)
    return f"mkdir -p {target} && mount --bind {shlex.quote(str(source))} {target}"


def _home(source: Path) -> str:
    """Bind SOURCE on /root, carrying along what the lab's own tools need from the machine's /root
    (a Python installed there, e.g. pyenv's, that the venv's interpreter links to): empty directories
    in the lab's /root stand for it, the machine's own mounted on them."""
    source.mkdir(parents=True, exist_ok=True)
    lines = []
    base = os.path.realpath(sys.base_prefix)
    if base.startswith("/root/"):
        keep = source / os.path.relpath(base, "/root")
        keep.mkdir(parents=True, exist_ok=True)
        lines.append(f"mount --bind {shlex.quote(base)} {shlex.quote(str(keep))}")
    return " && ".join([*lines, f"mount --rbind {shlex.quote(str(source))} /root"])


def create(names: Names, rec: Record, key: str, netns: str, hostname: str, script: list[str]) -> None:
    """KEY's mount and UTS namespaces, made inside NETNS: hostname HOSTNAME, then SCRIPT (shell lines)."""
    ensure_ns_dir(names, rec)
    mnt, uts = ns_files(names, key)
    for f in (mnt, uts):
        rec.add("mount", path=str(f))  # recorded first: a crash right after still gets it unmounted
        f.touch()
    # slave: mounts the machine makes later (new /run/netns entries) still show inside, ours never leak out
    # nsenter --net, not `ip netns exec`: unshare binds the namespace files from the mount namespace it
    # runs in, which must be the machine's (ip netns exec's own would vanish with it); /sys is then
    # remounted as ip netns exec does, so it shows this network namespace's devices
    body = " && ".join([f"hostname {shlex.quote(hostname)}", "umount -l /sys", "mount -t sysfs sysfs /sys",
                        *script])
    argv = ["nsenter", f"--net=/run/netns/{netns}", "unshare", f"--mount={mnt}", f"--uts={uts}",
            "--propagation", "slave", "sh", "-ec", body]
    try:
        run(argv, host=hostname)
    except CommandError as e:
        if "Invalid argument" not in e.stderr or f"on {mnt} failed" not in e.stderr:
            raise
        _unshare_on_another_cpu(argv, hostname, (mnt, uts), e)


def _unshare_on_another_cpu(argv: list[str], hostname: str, files: tuple[Path, Path], error: CommandError) -> None:
    """The kernel refuses to bind a mount namespace's file from a namespace with a higher id
    (fs/namespace.c, mnt_ns_loop: "could bind mounting the mount namespace inode cause a mount
    namespace loop?"). Linux 6.18 numbers namespaces from per-CPU batches, so in a container (its own
    namespace is young) a new namespace made on one CPU can get a lower id than the container's: then
    every attempt on that CPU fails, and the same on another CPU succeeds."""
    for cpu in sorted(os.sched_getaffinity(0)):
        for f in files:  # what the failed attempt bound (the UTS file) is bound again
            if is_mountpoint(str(f)):
                run(["umount", str(f)], host=hostname, check=False)
        try:
            run(["taskset", "-c", str(cpu), *argv], host=hostname)
            return
        except CommandError as e:
            error = e
    raise error


def host_script(names: Names, host: str, router: bool) -> list[str]:
    """A lab host's mounts: its own /etc and /var/lib (overlays), /root, and the router's FRR
    directories or a node's Calico ones."""
    d = files_dir(names, host)
    lines = [_overlay("/etc", d / "overlay-etc"), _overlay("/var/lib", d / "overlay-var-lib"),
             f"echo {shlex.quote(host)} > /etc/hostname", _home(d / "root")]
    if router:
        lines += [_bind(d / "etc-frr", "/etc/frr"), _bind(d / "run-frr", "/run/frr")]
    else:
        lines += [_bind(d / "etc-cni-net.d", "/etc/cni/net.d"), _bind(d / "var-lib-calico", "/var/lib/calico")]
    return lines


def pod_script(names: Names, key: str) -> list[str]:
    """A pod's mounts: /etc (its resolv.conf, hosts and hostname in the overlay's upper layer, written
    beforehand), /root, and /run holding the service-account token (kubelet's tmpfs) and nothing else."""
    d = files_dir(names, key)
    return [_overlay("/etc", d / "overlay-etc"), _home(d / "root"), _bind(d / "run", "/run")]


def enter_argv(names: Names, key: str, netns: str, wd: str | None = None) -> list[str]:
    """The argv prefix running a command in KEY's network, mount and UTS namespaces.

    A lab made before mount namespaces existed has no namespace files: then the network namespace alone."""
    mnt, uts = ns_files(names, key)
    argv = ["nsenter", f"--net=/run/netns/{netns}", f"--mount={mnt}", f"--uts={uts}",
            *([f"--wd={wd}"] if wd else []), "--"]
    if is_mountpoint(mnt):
        return argv
    home = _lab_home_mount_ns(names)
    if home is not None:
        # inside a lab host (kubectl exec on k8s-m): namespace files made after it are not bound here
        # (<state>/ns is private), so go back to the machine's mount namespace (the agent's) to find them
        return ["nsenter", f"--mount={home}", "--", *argv]
    return ["ip", "netns", "exec", netns]


def _lab_home_mount_ns(names: Names) -> str | None:
    """The machine's mount namespace as the lab agent's, when this process is in another one."""
    for e in Record(names.prefix).entries():
        if e["kind"] == "pid" and e.get("what") == "agent":
            path = f"/proc/{e['pid']}/ns/mnt"
            try:
                return path if os.readlink(path) != os.readlink("/proc/self/ns/mnt") else None
            except OSError:
                return None
    return None


def unmount(path: Path | str) -> bool:
    """Unmount PATH if it is a mount point (lazily: a shell still inside keeps what it uses)."""
    if not is_mountpoint(path):
        return False
    subprocess.run(["umount", "-l", str(path)], capture_output=True)
    return True


def destroy(names: Names, key: str) -> None:
    """Release KEY's namespaces (they go once no process is left in them) and its files."""
    import shutil

    for f in ns_files(names, key):
        unmount(f)
        f.unlink(missing_ok=True)
    shutil.rmtree(files_dir(names, key), ignore_errors=True)
