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


def test_hosts_yaml_for_any_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("KANSLAB_KNOWN_HOSTS", str(tmp_path / "kh"))
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
    # trust on first use: recorded in kanslab's known_hosts, a changed key refused later
    assert eps["k8s-m"].strict == "accept-new" and eps["k8s-m"].known_hosts == (str(tmp_path / "kh"),)
    assert eps["k8s-w1"].port == 2222 and eps["k8s-w1"].host_key.startswith("ssh-ed25519")
    assert eps["router"].hostname == "10.0.0.254" and eps["router"].role is None


def test_hosts_yaml_with_known_hosts_is_strict(tmp_path):
    p = tmp_path / "hosts.yaml"
    p.write_text("defaults: {known_hosts: ~/.ssh/known_hosts}\nhosts: {k8s-m: {host: h}}\n")
    assert read_hosts_yaml(p)["k8s-m"].strict == "yes"
    p.write_text("defaults: {strict_host_key_checking: no}\nhosts: {k8s-m: {host: h}}\n")  # YAML's `no` is false
    assert read_hosts_yaml(p)["k8s-m"].strict == "no" and read_hosts_yaml(p)["k8s-m"].known_hosts == ()
    p.write_text("defaults: {strict_host_key_checking: maybe}\nhosts: {k8s-m: {host: h}}\n")
    with pytest.raises(InvalidInput, match="strict_host_key_checking 'maybe'"):
        read_hosts_yaml(p)


def test_default_known_hosts_follows_xdg(monkeypatch, tmp_path):
    from kanslab.backends.ssh import default_known_hosts

    monkeypatch.delenv("KANSLAB_KNOWN_HOSTS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_known_hosts() == str(tmp_path / "kanslab" / "known_hosts")
    monkeypatch.setenv("KANSLAB_KNOWN_HOSTS", "/x/kh")
    assert default_known_hosts() == "/x/kh"


def test_recorded_key_types_are_offered_first(tmp_path):
    from kanslab.backends.ssh import Endpoint
    from kanslab.backends.ssh.hostkeys import preferred_key_types

    offered = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
    kh = tmp_path / "known_hosts"
    kh.write_text("[127.0.0.1]:2222 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=\n")
    ep = Endpoint("k8s-m", "127.0.0.1", 2222, known_hosts=(str(kh),))
    assert preferred_key_types(ep, {}, offered) == ("ecdsa-sha2-nistp256", "ssh-ed25519", "rsa-sha2-512",
                                                    "rsa-sha2-256", "ssh-rsa")
    rsa = Endpoint("k8s-m", "127.0.0.1", 2222, host_key="ssh-rsa AAAAB3Nza")
    assert preferred_key_types(rsa, {}, offered)[:3] == ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
    assert preferred_key_types(Endpoint("x", "h"), {}, offered) == offered  # nothing recorded: paramiko's order


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


@pytest.mark.parametrize("text,expected", [
    ("    client-key-data: LS0tLS1CRUdJTiBFQyBQUklW", "    client-key-data: [removed]"),
    ("    token: eyJhbGciOi.abc.def", "    token: [removed]"),
    ('{"user": {"token": "s3cr3t", "username": "a"}}', '{"user": {"token": [removed], "username": "a"}}'),
    ("    password: hunter2", "    password: [removed]"),
    ("kubectl --token=abc get pods", "kubectl --token=[removed] get pods"),
    ("kubeadm join 1.2.3.4:6443 --token abcdef.0123456789abcdef", "kubeadm join 1.2.3.4:6443 --token [removed]"),
    ("Authorization: Bearer eyJabc.def", "Authorization: Bearer [removed]"),
    ("git clone https://student:pa55@example.org/x", "git clone https://student:[removed]@example.org/x"),
    # public or harmless: kept as they are
    ("    client-certificate-data: LS0tCERT", "    client-certificate-data: LS0tCERT"),
    ("automountServiceAccountToken: false", "automountServiceAccountToken: false"),
    ("the token expired", "the token expired"),
])
def test_scrub_removes_tokens_and_passwords(text, expected):
    assert scrub(text) == expected
