"""Whether to trust a host's key: known_hosts files, pinned keys, trust on first use.

The rules, in order:
- once a session has seen a host's key, a different key on reconnect is refused;
- a `host_key` pinned in a hosts YAML must match;
- keys recorded for the host in its known_hosts files must include the one offered;
- a host with no recorded key is accepted only under `StrictHostKeyChecking no` (Vagrant's own
  ssh-config says so for its VMs) or `accept-new`, which records the key in the first
  known_hosts file (trust on first use: a hosts YAML without `known_hosts` gets kanslab's own
  file, `default_known_hosts()`); anything else is refused.

`preferred_key_types` puts the recorded key types first in the client's offer, as OpenSSH does,
so a host recorded by its ecdsa key is not refused because it would rather show its ed25519 key.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path

import paramiko

from .config import Endpoint
from .errors import HostKeyRefused

log = logging.getLogger("kanslab.ssh")

_WRITE_LOCK = threading.Lock()
# an RSA key is shown with any of these signature algorithms (RFC 8332)
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


def default_known_hosts() -> str:
    """kanslab's own known_hosts file: KANSLAB_KNOWN_HOSTS, else $XDG_CONFIG_HOME/kanslab/known_hosts."""
    env = os.environ.get("KANSLAB_KNOWN_HOSTS")
    if env:
        return os.path.expanduser(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "kanslab", "known_hosts")


def _files(ep: Endpoint) -> list[str]:
    return [f for f in ep.known_hosts if f != "/dev/null"]


def recorded_keys(ep: Endpoint) -> list[tuple[str, str]]:
    """(type, base64) of every key recorded for EP in its known_hosts files."""
    found = []
    for f in _files(ep):
        if not os.path.isfile(f):
            continue
        try:
            hk = paramiko.HostKeys(f)
        except (OSError, paramiko.SSHException, UnicodeDecodeError):
            continue
        entry = hk.lookup(ep.known_hosts_name)
        if entry:
            found += [(k.get_name(), k.get_base64()) for k in entry.values()]
    return found


def _expected_types(ep: Endpoint, pins: dict[str, str]) -> list[str]:
    if ep.name in pins:
        return [pins[ep.name].split()[0]]
    if ep.host_key:
        return [ep.host_key.split()[0]]
    return [t for t, _ in recorded_keys(ep)]


def preferred_key_types(ep: Endpoint, pins: dict[str, str], offered: tuple[str, ...]) -> tuple[str, ...]:
    """OFFERED (paramiko's host-key algorithms) with the algorithms of EP's known keys first."""
    want: list[str] = []
    for t in _expected_types(ep, pins):
        for alg in _ALGORITHMS.get(t, (t,)):
            if alg in offered and alg not in want:
                want.append(alg)
    return tuple(want) + tuple(a for a in offered if a not in want)


def verify(ep: Endpoint, key: paramiko.PKey, pins: dict[str, str]) -> None:
    """Raise HostKeyRefused unless KEY may be trusted for EP (rules in the module docstring)."""
    got = (key.get_name(), key.get_base64())
    shown = f"{key.get_name()} {key.fingerprint}"
    pinned = pins.get(ep.name)
    if pinned is not None:
        if tuple(pinned.split()[:2]) != got:
            raise HostKeyRefused(ep.name, f"the host key of {ep.address} changed since this session first "
                                          f"connected ({shown}); refusing")
        return
    if ep.host_key:
        if tuple(ep.host_key.split()[:2]) != got:
            raise HostKeyRefused(ep.name, f"host key of {ep.address} ({shown}) is not the pinned host_key; refusing")
    else:
        known = recorded_keys(ep)
        if known:
            if got not in known:
                files = ", ".join(_files(ep))
                raise HostKeyRefused(ep.name, f"host key of {ep.address} ({shown}) does not match {files}; "
                                              "refusing. If the host was rebuilt, remove its old key with "
                                              f"`ssh-keygen -R '{ep.known_hosts_name}' -f FILE`")
        elif ep.strict == "accept-new" and _files(ep):
            _record(_files(ep)[0], ep, key)
        elif ep.strict not in ("no", "off"):
            where = ", ".join(ep.known_hosts) or "no known_hosts file"
            raise HostKeyRefused(ep.name, f"unknown host key for {ep.address} ({shown}) "
                                          f"and StrictHostKeyChecking {ep.strict} ({where}); refusing")
    pins[ep.name] = " ".join(got)


def _record(path: str, ep: Endpoint, key: paramiko.PKey) -> None:
    """Append EP's key to PATH (trust on first use); another writer's entry for EP wins."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _WRITE_LOCK, open(p, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # other kanslab processes append to the same file
            if recorded_keys(Endpoint(ep.name, ep.hostname, ep.port, known_hosts=(path,))):
                verify(Endpoint(ep.name, ep.hostname, ep.port, known_hosts=(path,), strict="yes"), key, {})
                return
            f.write(f"{ep.known_hosts_name} {key.get_name()} {key.get_base64()}\n")
    except OSError as e:
        raise HostKeyRefused(ep.name, f"cannot record the host key of {ep.address} in {path}: "
                                      f"{e.strerror or e}; refusing") from None
    log.info("recorded the host key of %s (%s %s) in %s", ep.address, key.get_name(), key.fingerprint, path)
