"""Where the lab's hosts are: `vagrant ssh-config`, a saved file of that format, or a hosts YAML.

The hosts YAML ("any cluster": the AWS variant of the course, a student's own machines):

```yaml
defaults:                       # optional, for every host
  user: ubuntu
  port: 22
  identity_file: ~/.ssh/kans.pem
  known_hosts: ~/.ssh/known_hosts   # optional: then host keys must be in it (strict)
hosts:
  router: {host: 3.35.10.1, role: router}
  k8s-m:  {host: 3.35.10.2, role: control-plane}
  k8s-w1: {host: 3.35.10.3, role: worker, host_key: "ssh-ed25519 AAAA..."}   # or pin a key
```
Without `known_hosts` or `host_key`, a host's key is trusted on first use: recorded in
kanslab's own known_hosts file (`~/.config/kanslab/known_hosts`, or KANSLAB_KNOWN_HOSTS), and a
different key later is refused, as `StrictHostKeyChecking accept-new` does in OpenSSH.
`strict_host_key_checking: no` accepts any key. Hosts the file does not name are never contacted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from ...errors import InvalidInput, LabError
from ..ssh import Endpoint, default_known_hosts, parse_ssh_config, read_ssh_config

ROLES = ("control-plane", "worker", "router")
_HOST_KEYS = {"host", "hostname", "port", "user", "identity_file", "identity_files", "known_hosts", "host_key",
              "role", "strict_host_key_checking"}


def vagrant_ssh_config(vagrant_dir: str | Path, timeout: float = 120) -> dict[str, Endpoint]:
    """Run `vagrant ssh-config` in VAGRANT_DIR and read the hosts it prints (running machines only)."""
    d = Path(vagrant_dir).expanduser()
    if not (d / "Vagrantfile").exists():
        raise InvalidInput(f"{d} has no Vagrantfile (vagrant_dir should be the course's vagrant/ folder)")
    exe = shutil.which("vagrant")
    if exe is None:
        raise LabError("the vagrant command is not installed here; install Vagrant, or save "
                       "`vagrant ssh-config > ssh_config` where it runs and use connect('vagrant', ssh_config=...)")
    try:
        p = subprocess.run([exe, "ssh-config"], cwd=d, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LabError(f"`vagrant ssh-config` in {d} did not answer in {timeout:.0f} s") from None
    eps = parse_ssh_config(p.stdout, base_dir=d, source=f"`vagrant ssh-config` in {d}")
    if not eps:
        detail = (p.stderr or p.stdout).strip()[-1500:]
        raise LabError(f"`vagrant ssh-config` in {d} names no running machine (exit {p.returncode}); "
                       f"bring the lab up with `vagrant up` first.\n{detail}")
    return eps


def _as_list(v) -> list[str]:
    if v is None:
        return []
    return [str(x) for x in (v if isinstance(v, list) else [v])]


def _path(base: Path, f: str) -> str:
    """~ expanded; relative paths are relative to the hosts file."""
    f = os.path.expanduser(f)
    return f if os.path.isabs(f) else str(base / f)


def read_hosts_yaml(path: str | Path) -> dict[str, Endpoint]:
    """Endpoints (with roles) from the small hosts YAML described in this module's docstring."""
    p = Path(path).expanduser()
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as e:
        raise InvalidInput(f"cannot read hosts file {p}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise InvalidInput(f"hosts file {p} is not valid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), dict) or not data["hosts"]:
        raise InvalidInput(f"hosts file {p}: expected a mapping with `hosts: {{NAME: {{host: ..., role: ...}}}}`")
    defaults = data.get("defaults") or {}
    unknown_top = set(data) - {"defaults", "hosts"}
    if unknown_top:
        raise InvalidInput(f"hosts file {p}: unknown keys {sorted(unknown_top)} (expected defaults, hosts)")
    out = {}
    for name, spec in data["hosts"].items():
        if isinstance(spec, str):
            spec = {"host": spec}
        if not isinstance(spec, dict):
            raise InvalidInput(f"hosts file {p}: host {name}: expected a mapping")
        merged = {**defaults, **spec}
        bad = set(merged) - _HOST_KEYS
        if bad:
            raise InvalidInput(f"hosts file {p}: host {name}: unknown keys {sorted(bad)}; "
                               f"known: {', '.join(sorted(_HOST_KEYS))}")
        hostname = merged.get("host") or merged.get("hostname")
        if not hostname:
            raise InvalidInput(f"hosts file {p}: host {name} has no `host:` (address or DNS name)")
        role = merged.get("role")
        if role is not None and role not in ROLES:
            raise InvalidInput(f"hosts file {p}: host {name}: role {role!r} is not one of {', '.join(ROLES)}")
        keys = _as_list(merged.get("identity_file")) + _as_list(merged.get("identity_files"))
        known = _as_list(merged.get("known_hosts"))
        strict = merged.get("strict_host_key_checking")
        if isinstance(strict, bool):  # YAML reads a bare `no` as false
            strict = "yes" if strict else "no"
        strict = str(strict or ("yes" if known else "accept-new")).lower()
        if strict not in ("yes", "no", "accept-new", "ask", "off"):
            raise InvalidInput(f"hosts file {p}: host {name}: strict_host_key_checking {strict!r} is not one of "
                               "yes, accept-new, no")
        if not known and strict == "accept-new":
            known = [default_known_hosts()]  # trust on first use, in kanslab's own file
        try:
            port = int(merged.get("port", 22))
        except (TypeError, ValueError):
            raise InvalidInput(f"hosts file {p}: host {name}: port {merged.get('port')!r} is not a number") from None
        out[str(name)] = Endpoint(
            name=str(name), hostname=str(hostname), port=port, user=str(merged.get("user", "root")),
            identity_files=tuple(_path(p.parent, k) for k in keys),
            known_hosts=tuple(_path(p.parent, k) for k in known),
            strict=strict, host_key=merged.get("host_key"), identities_only=bool(keys), role=role)
    return out


def find_vagrant_dir() -> Path | None:
    """KANSLAB_VAGRANT_DIR, else a vagrant/ folder with a Vagrantfile here, one level up, or beside the package."""
    env = os.environ.get("KANSLAB_VAGRANT_DIR")
    if env:
        return Path(env)
    here = Path.cwd()
    for d in (here / "vagrant", here.parent / "vagrant", Path(__file__).resolve().parents[3] / "vagrant", here):
        if (d / "Vagrantfile").exists():
            return d
    return None


def load_endpoints(vagrant_dir=None, ssh_config=None, hosts_yaml=None) -> tuple[dict[str, Endpoint], str]:
    """(endpoints, description of the source). Exactly one source; none given: env vars, then a vagrant/ dir."""
    given = [x for x in (vagrant_dir, ssh_config, hosts_yaml) if x is not None]
    if len(given) > 1:
        raise InvalidInput("give one of vagrant_dir=, ssh_config= or hosts_yaml=, not several")
    if not given:
        ssh_config = os.environ.get("KANSLAB_SSH_CONFIG")
        hosts_yaml = os.environ.get("KANSLAB_HOSTS_YAML") if ssh_config is None else None
        if ssh_config is None and hosts_yaml is None:
            vagrant_dir = find_vagrant_dir()
            if vagrant_dir is None:
                raise InvalidInput("the vagrant backend needs vagrant_dir=, ssh_config= or hosts_yaml= "
                                   "(or KANSLAB_VAGRANT_DIR / KANSLAB_SSH_CONFIG / KANSLAB_HOSTS_YAML)")
    if ssh_config is not None:
        return read_ssh_config(ssh_config), f"ssh-config {ssh_config}"
    if hosts_yaml is not None:
        return read_hosts_yaml(hosts_yaml), f"hosts file {hosts_yaml}"
    return vagrant_ssh_config(vagrant_dir), f"vagrant ssh-config in {vagrant_dir}"
