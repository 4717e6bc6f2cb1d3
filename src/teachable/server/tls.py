"""The certificate of `teachable serve --https`: a local authority made once, and a server
certificate it signs for this computer's names and addresses.

Pages on the internet (the p5.js web editor, CodePen) are HTTPS, and browsers refuse to let them
read a plain-HTTP address on the classroom network (mixed content). With ``--https`` Teachable
serves over TLS with a certificate it makes with ``cryptography``: a "Teachable local authority"
kept in the data folder for ten years (a student's browser trusts it once, by its fingerprint),
constrained to the names a classroom server has (loopback and private addresses, ``.local`` names,
this computer's own names and addresses: see :func:`permitted_names`) so that its key can vouch for
no site on the internet,
and a server certificate it signs for every name and address this computer is reached by,
made again whenever they change (a new Wi-Fi address) or it nears its end. Nothing is sent
anywhere; the authority's private key never leaves the data folder.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from ..paths import tls_dir

AUTHORITY_YEARS = 10
SERVER_DAYS = 397  # the longest browsers accept for a server certificate
RENEW_DAYS = 30
# Where a Teachable server can be: loopback, the private and link-local ranges (RFC 1918, RFC 4193).
PRIVATE_NETWORKS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                    "::1/128", "fc00::/7", "fe80::/10")
PRIVATE_DOMAINS = ("localhost", "local")  # "local": any name under .local (mDNS)


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path  # the server certificate, then the authority's (the chain uvicorn sends)
    key: Path
    authority: Path  # what a browser is told to trust (also at /tls/authority.pem)
    fingerprint: str  # the authority's SHA-256, as browsers show it (AA:BB:...)


def local_names(host: str) -> list[str]:
    """Every name and address a browser may use for this server."""
    names = {"localhost", "127.0.0.1", "::1"}
    hostname = socket.gethostname()
    names.update({hostname, f"{hostname}.local"})
    try:
        names.update(socket.gethostbyname_ex(hostname)[2])
    except OSError:
        pass
    try:  # the address used to reach other machines (no packet is sent: UDP connect only picks a route)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            names.add(probe.getsockname()[0])
    except OSError:
        pass
    if host and host not in ("0.0.0.0", "::"):
        names.add(host.strip("[]"))
    return sorted(names)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _alt_names(names: list[str]):
    from cryptography import x509

    return x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address(n)) if _is_address(n) else x509.DNSName(n) for n in names])


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_bytes(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def permitted_names(names: list[str]):
    """The authority's name constraints: the private ranges and domains above, plus ``names`` (this
    computer's own names and addresses, a public address included). A certificate it signs for
    any other name (a bank's, say) is refused by every browser and by OpenSSL."""
    from cryptography import x509

    networks = {ipaddress.ip_network(n) for n in PRIVATE_NETWORKS}
    domains = set(PRIVATE_DOMAINS)
    for name in names:
        if _is_address(name):
            address = ipaddress.ip_address(name)
            if not any(address in network for network in networks):
                networks.add(ipaddress.ip_network(address))
        else:
            domains.add(name.lower().rstrip("."))
    subtrees = [x509.DNSName(d) for d in sorted(domains)]
    subtrees += [x509.IPAddress(n) for n in sorted(networks, key=lambda n: (n.version, n))]
    return x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None)


def _permits(certificate, names: list[str]) -> bool:
    """Whether an authority carries name constraints that cover every one of ``names`` (one made
    before constraints existed, or before this computer had a name it has now, does not)."""
    from cryptography import x509

    try:
        constraints = certificate.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return False
    networks = [s.value for s in constraints.permitted_subtrees or [] if isinstance(s, x509.IPAddress)]
    domains = [s.value for s in constraints.permitted_subtrees or [] if isinstance(s, x509.DNSName)]
    for name in names:
        if _is_address(name):
            if not any(ipaddress.ip_address(name) in network for network in networks):
                return False
        elif not any(name.lower() == d or name.lower().endswith("." + d) for d in domains):
            return False
    return True


def _authority(folder: Path, names: list[str]):
    """The local authority (certificate, key), made on first use and kept while it covers ``names``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / "authority.pem", folder / "authority.key"
    if cert_path.exists() and key_path.exists():
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=RENEW_DAYS)
        if certificate.not_valid_after_utc > soon and _permits(certificate, names):
            return certificate, serialization.load_pem_private_key(key_path.read_bytes(), None)
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Teachable local authority ({socket.gethostname()})"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Teachable")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365 * AUTHORITY_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(permitted_names(names), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256()))
    _write_private(key_path, _key_bytes(key))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    for stale in ("server.pem", "server.key"):  # signed by the authority this one replaces
        (folder / stale).unlink(missing_ok=True)
    return certificate, key


def _server_is_current(path: Path, names: list[str]) -> bool:
    from cryptography import x509

    if not path.exists():
        return False
    try:
        certificate = x509.load_pem_x509_certificates(path.read_bytes())[0]
        covered = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:
        return False
    have = {str(v) for v in covered.get_values_for_type(x509.IPAddress)} | set(covered.get_values_for_type(x509.DNSName))
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=RENEW_DAYS)
    return set(names) <= have and certificate.not_valid_after_utc > soon


def fingerprint(certificate) -> str:
    from cryptography.hazmat.primitives import hashes

    return ":".join(f"{b:02X}" for b in certificate.fingerprint(hashes.SHA256()))


def certificate_for(names: list[str], folder: Path | None = None) -> TlsFiles:
    """The files uvicorn serves with, made or renewed as needed, for ``names``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = folder or tls_dir()
    folder.mkdir(parents=True, exist_ok=True)
    authority, authority_key = _authority(folder, names)
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    if not (_server_is_current(cert_path, names) and key_path.exists()):
        key = _new_key()
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Teachable")]))
            .issuer_name(authority.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(_alt_names(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key.public_key()), critical=False)
            .sign(authority_key, hashes.SHA256()))
        _write_private(key_path, _key_bytes(key))
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM)
                              + authority.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(cert_path, key_path, folder / "authority.pem", fingerprint(authority))
