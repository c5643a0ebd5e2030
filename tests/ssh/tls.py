"""A throwaway CA and certificates for the TLS tests (the API server behind the SSH tunnel)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _cert(subject: str, issuer_name: x509.Name, issuer_key, key, ca: bool, names: list[str] = ()):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        sans = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


class TestCA:
    """A CA that signs server certificates for chosen names, and a client certificate (kubernetes-admin)."""

    def __init__(self, root: Path):
        self.root = root
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])  # kubeadm's CA name
        self.cert = _cert("kubernetes", self.name, self.key, self.key, ca=True)
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, names: list[str]) -> tuple[bytes, bytes]:
        """(certificate PEM, private key PEM) for CN with NAMES as subject alternative names."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(cn, self.name, self.key, key, ca=False, names=names)
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    def server_files(self, names: list[str]) -> tuple[Path, Path]:
        cert, key = self.issue("kube-apiserver", names)
        c, k = self.root / f"server-{names[0]}.crt", self.root / f"server-{names[0]}.key"
        c.write_bytes(cert)
        k.write_bytes(key)
        return c, k
