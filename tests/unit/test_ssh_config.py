"""Reading hosts for the vagrant backend: `vagrant ssh-config` output, saved files, the hosts YAML."""

from __future__ import annotations

import textwrap

import pytest

from kanslab import InvalidInput
from kanslab.backends.ssh import parse_ssh_config, read_ssh_config, scrub
from kanslab.backends.vagrant.inventory import load_endpoints, read_hosts_yaml

# what `vagrant ssh-config` prints for two machines (Vagrant 2.4, VirtualBox provider)
VAGRANT_OUTPUT = textwrap.dedent("""\
    Host k8s-m
      HostName 127.0.0.1
      User vagrant
      Port 50010
      UserKnownHostsFile /dev/null
      StrictHostKeyChecking no
      PasswordAuthentication no
      IdentityFile "/home/student/kans/vagrant/.vagrant/machines/k8s-m/virtualbox/private_key"
      IdentitiesOnly yes
      LogLevel FATAL
      PubkeyAcceptedKeyTypes +ssh-rsa
      HostKeyAlgorithms +ssh-rsa

    Host router
      HostName 127.0.0.1
      User vagrant
      Port 50000
      UserKnownHostsFile /dev/null
      StrictHostKeyChecking no
      PasswordAuthentication no
      IdentityFile /home/student/kans/vagrant/.vagrant/machines/router/virtualbox/private_key
      IdentitiesOnly yes
      LogLevel FATAL
    """)


def test_vagrant_ssh_config_is_read_host_by_host():
    eps = parse_ssh_config(VAGRANT_OUTPUT)
    assert list(eps) == ["k8s-m", "router"]
    m = eps["k8s-m"]
    assert (m.hostname, m.port, m.user) == ("127.0.0.1", 50010, "vagrant")
    assert m.identity_files == ("/home/student/kans/vagrant/.vagrant/machines/k8s-m/virtualbox/private_key",)
    assert m.known_hosts == ("/dev/null",) and m.strict == "no" and m.identities_only
    assert eps["router"].port == 50000


def test_first_value_wins_identity_files_accumulate_and_host_star_applies():
    eps = parse_ssh_config(textwrap.dedent("""\
        Host a b
          Port=2201
          IdentityFile ~/k1
        Host a
          Port 9999
          HostName 10.0.0.1
        Host *
          User ubuntu
          IdentityFile /k2
        """))
    assert eps["a"].port == 2201 and eps["a"].hostname == "10.0.0.1" and eps["a"].user == "ubuntu"
    assert eps["a"].identity_files[1] == "/k2" and eps["a"].identity_files[0].endswith("/k1")
    assert not eps["a"].identity_files[0].startswith("~")
    assert eps["b"].hostname == "b" and eps["b"].strict == "ask"  # ssh's default: never accept silently


def test_relative_identity_file_is_relative_to_the_config(tmp_path):
    (tmp_path / "cfg").write_text("Host x\n  IdentityFile keys/id\n")
    assert read_ssh_config(tmp_path / "cfg")["x"].identity_files == (str(tmp_path / "keys" / "id"),)


def test_unsupported_and_malformed_configs_say_which_line():
    with pytest.raises(InvalidInput, match="line 2: proxyjump"):
        parse_ssh_config("Host x\n  ProxyJump bastion\n")
    with pytest.raises(InvalidInput, match="Port 'abc' is not a number"):
        parse_ssh_config("Host x\n  Port abc\n")
    with pytest.raises(InvalidInput, match="names no hosts"):
        read_ssh_config(_write_tmp("Host *\n  User x\n"))


def _write_tmp(text: str):
    import tempfile

    f = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    f.write(text)
    f.close()
    return f.name


def test_hosts_yaml_for_any_cluster(tmp_path):
    p = tmp_path / "hosts.yaml"
    p.write_text(textwrap.dedent("""\
        defaults: {user: ubuntu, identity_file: kans.pem}
        hosts:
          k8s-m:  {host: 10.0.0.10, role: control-plane}
          k8s-w1: {host: 10.0.0.11, role: worker, port: 2222, host_key: "ssh-ed25519 AAAAC3Nz"}
          router: 10.0.0.254
        """))
    eps = read_hosts_yaml(p)
    assert eps["k8s-m"].role == "control-plane" and eps["k8s-m"].user == "ubuntu"
    assert eps["k8s-m"].identity_files == (str(tmp_path / "kans.pem"),)
    assert eps["k8s-m"].strict == "no"  # named hosts are accepted on first contact, like Vagrant's
    assert eps["k8s-w1"].port == 2222 and eps["k8s-w1"].host_key.startswith("ssh-ed25519")
    assert eps["router"].hostname == "10.0.0.254" and eps["router"].role is None


def test_hosts_yaml_with_known_hosts_is_strict(tmp_path):
    p = tmp_path / "hosts.yaml"
    p.write_text("defaults: {known_hosts: ~/.ssh/known_hosts}\nhosts: {k8s-m: {host: h}}\n")
    assert read_hosts_yaml(p)["k8s-m"].strict == "yes"


@pytest.mark.parametrize("text,message", [
    ("hosts: {k8s-m: {host: h, rol: worker}}", "unknown keys \\['rol'\\]"),
    ("hosts: {k8s-m: {host: h, role: boss}}", "role 'boss' is not one of"),
    ("hosts: {k8s-m: {role: worker}}", "has no `host:`"),
    ("hosts: []", "expected a mapping"),
    ("hosts: {k8s-m: {host: h}}\nextra: 1", "unknown keys \\['extra'\\]"),
])
def test_hosts_yaml_errors_name_the_problem(tmp_path, text, message):
    p = tmp_path / "hosts.yaml"
    p.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        read_hosts_yaml(p)


def test_one_source_only(tmp_path):
    with pytest.raises(InvalidInput, match="one of"):
        load_endpoints(vagrant_dir=tmp_path, ssh_config=tmp_path / "x")


def test_vagrant_dir_without_vagrantfile_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="has no Vagrantfile"):
        load_endpoints(vagrant_dir=tmp_path)


def test_scrub_removes_private_key_blocks():
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"
    text = scrub(f"before\n{key}\nafter")
    assert "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" not in text
    assert text == "before\n[private key removed]\nafter"
    assert scrub("-----BEGIN RSA PRIVATE KEY-----\nMIIEow truncated") == "[private key removed]"
