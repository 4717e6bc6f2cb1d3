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
