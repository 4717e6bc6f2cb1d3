"""`teachable serve --https`: a certificate Teachable makes and keeps, the app and the sketch frame
over TLS, and the fingerprint a student checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest
from cryptography import x509

from servers import free_port
from teachable.server.tls import certificate_for, fingerprint


def test_the_authority_is_kept_and_the_server_certificate_follows_the_names(tmp_path):
    first = certificate_for(["localhost", "127.0.0.1", "10.1.2.3"], tmp_path)
    made = first.certificate.read_bytes()
    chain = x509.load_pem_x509_certificates(first.certificate.read_bytes())
    names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n) for n in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.1.2.3"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert chain[1].subject == chain[0].issuer  # the chain: server certificate, then the authority
    assert oct(first.key.stat().st_mode & 0o777) == "0o600"
    again = certificate_for(["localhost", "127.0.0.1"], tmp_path)  # covered already: nothing made
    assert again.certificate.read_bytes() == made
    moved = certificate_for(["localhost", "127.0.0.1", "10.9.9.9"], tmp_path)  # a new Wi-Fi address
    assert moved.certificate.read_bytes() != made
    assert moved.fingerprint == first.fingerprint  # students trusted the authority once: still trusted


def test_serve_https_answers_over_tls_with_the_printed_fingerprint(tmp_path):
    port = free_port()
    env = {**os.environ, "TEACHABLE_TLS_DIR": str(tmp_path / "tls")}
    server = subprocess.Popen([sys.executable, "-m", "teachable.cli", "serve", "--https", "--port", str(port),
                               "--workspace", str(tmp_path / "ws")], stderr=subprocess.PIPE, text=True, env=env)
    try:
        authority = tmp_path / "tls" / "authority.pem"
        base = f"https://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if authority.exists() and httpx.get(base + "/api/health", verify=str(authority), timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("the HTTPS server did not start")
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 400  # plain HTTP: not spoken
    except httpx.HTTPError:
        pass
    finally:
        try:
            served = httpx.get(base + "/tls/authority.pem", verify=str(authority)).content
            frame = httpx.get(f"https://127.0.0.1:{port + 1}/sketch/frame", verify=str(authority))
        finally:
            server.terminate()
            output = server.communicate(timeout=30)[1]
    assert served == authority.read_bytes()
    assert frame.status_code == 200 and "frame-ancestors" in frame.headers["content-security-policy"]
    printed = re.search(r"SHA-256 fingerprint\s+([0-9A-F:]{95})", output)
    assert printed and printed.group(1) == fingerprint(x509.load_pem_x509_certificate(authority.read_bytes()))
    assert f"https://localhost:{port}/" in output


def _signed_by_authority(folder, name: str):
    """A certificate for ``name`` signed with the authority's own key, as a thief of the key would."""
    import datetime
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    authority = x509.load_pem_x509_certificate((folder / "authority.pem").read_bytes())
    authority_key = serialization.load_pem_private_key((folder / "authority.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        alt = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        alt = x509.DNSName(name)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
                   .issuer_name(authority.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
                   .sign(authority_key, hashes.SHA256()))
    path = folder / f"forged-{name.replace(':', '_')}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def _openssl_verify(folder, certificate) -> subprocess.CompletedProcess:
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command (Debian's openssl package) to verify certificates as a browser would")
    return subprocess.run(["openssl", "verify", "-CAfile", str(folder / "authority.pem"), str(certificate)],
                          capture_output=True, text=True, timeout=30)


def test_the_authority_vouches_only_for_classroom_names(tmp_path):
    """Name constraints (issue 36): a certificate the authority's key signs for a site on the web
    fails `openssl verify`; the server's own, and ones for private addresses and .local names, pass.
    An authority made before constraints existed is replaced (and the server certificate with it)."""
    names = ["localhost", "127.0.0.1", "::1", "laptop", "laptop.local", "192.168.4.7", "203.0.113.9"]
    folder = tmp_path / "tls"
    files = certificate_for(names, folder)
    constraints = x509.load_pem_x509_certificate(files.authority.read_bytes()).extensions.get_extension_for_class(
        x509.NameConstraints)
    assert constraints.critical
    server = x509.load_pem_x509_certificates(files.certificate.read_bytes())[0]
    server_only = folder / "server-only.pem"
    server_only.write_bytes(server.public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.PEM))
    assert _openssl_verify(folder, server_only).returncode == 0
    for allowed in ("printer.local", "10.1.2.3", "172.20.0.5", "fd00::5", "laptop", "203.0.113.9"):
        assert _openssl_verify(folder, _signed_by_authority(folder, allowed)).returncode == 0, allowed
    for refused in ("example.com", "www.bank.example", "8.8.8.8", "2001:db8::1", "local.example.com"):
        result = _openssl_verify(folder, _signed_by_authority(folder, refused))
        assert result.returncode != 0 and "subtree violation" in (result.stdout + result.stderr), refused


def test_an_authority_without_constraints_is_replaced(tmp_path):
    import datetime

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path / "tls"
    folder.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old authority")])
    now = datetime.datetime.now(datetime.timezone.utc)
    old = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
           .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
           .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    (folder / "authority.pem").write_bytes(old.public_bytes(serialization.Encoding.PEM))
    (folder / "authority.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    files = certificate_for(["localhost", "127.0.0.1"], folder)
    assert files.fingerprint != fingerprint(old)
    assert _openssl_verify(folder, _signed_by_authority(folder, "example.com")).returncode != 0
