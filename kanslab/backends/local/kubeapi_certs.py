"""The lab's PKI and kubeconfig, made at `up` as kubeadm makes them: a CA "kubernetes", an API server
certificate for its names and addresses, and an admin client certificate (O=system:masters) in a
kubeconfig like admin.conf, readable only by the user who brought the lab up (like the SSH key)."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .names import Names
from .sshdoor import _owner

API_PORT = 6443


def pki_dir(names: Names) -> Path:
    return names.dir / "pki"


def kubeconfig_path(names: Names) -> Path:
    return names.dir / "kubeconfig"


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _cert(subject, issuer, key, signer, *, ca: bool, days: int, sans=None, client=False, server=False):
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now)
         .not_valid_after(now + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(True, False, True, False, False, True, False, False, False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH]
                                                                          if client else [])
        b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(signer, hashes.SHA256())


def make_pki(names: Names, node_name: str, node_ip: str, service_ip: str | None) -> dict[str, Path]:
    """CA, apiserver and admin certificates under <state>/pki (root-only but the CA certificate)."""
    d = pki_dir(names)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(_name("kubernetes"), _name("kubernetes"), ca_key, ca_key, ca=True, days=3650)
    sans = [x509.DNSName(n) for n in ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                      "kubernetes.default.svc.cluster.local", node_name, "localhost")]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in filter(None, (service_ip, node_ip, "127.0.0.1"))]
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = _cert(_name("kube-apiserver"), ca.subject, srv_key, ca_key, ca=False, days=365, sans=sans, server=True)
    adm_key = ec.generate_private_key(ec.SECP256R1())
    adm = _cert(_name("kubernetes-admin", "system:masters"), ca.subject, adm_key, ca_key, ca=False, days=365,
                client=True)
    files = {"ca.crt": ca.public_bytes(serialization.Encoding.PEM), "apiserver.crt": srv.public_bytes(
        serialization.Encoding.PEM), "apiserver.key": _pem_key(srv_key),
        "admin.crt": adm.public_bytes(serialization.Encoding.PEM), "admin.key": _pem_key(adm_key)}
    out = {}
    for fname, data in files.items():
        p = d / fname
        p.write_bytes(data)
        os.chmod(p, 0o600)
        out[fname] = p
    return out


def write_kubeconfig(names: Names, server: str, path: Path | None = None, owner: bool = True) -> Path:
    """admin.conf's shape: cluster "kubernetes", user "kubernetes-admin", context kubernetes-admin@kubernetes."""
    d = pki_dir(names)
    b64 = lambda f: base64.b64encode((d / f).read_bytes()).decode()  # noqa: E731
    cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {},
           "clusters": [{"name": "kubernetes", "cluster": {"certificate-authority-data": b64("ca.crt"),
                                                           "server": server}}],
           "contexts": [{"name": "kubernetes-admin@kubernetes",
                         "context": {"cluster": "kubernetes", "user": "kubernetes-admin"}}],
           "current-context": "kubernetes-admin@kubernetes",
           "users": [{"name": "kubernetes-admin", "user": {"client-certificate-data": b64("admin.crt"),
                                                            "client-key-data": b64("admin.key")}}]}
    path = path or kubeconfig_path(names)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    os.chmod(path, 0o600)
    if owner:
        uid, gid = _owner()
        os.chown(path, uid, gid)
    return path
