"""Local TLS material for tests: a throwaway trustme CA and a server certificate for 127.0.0.1 and localhost.

    files = make_tls_files(tmp_path)           # writes ca.pem, server-cert.pem (chain), server-key.pem
    start_server(..., args=("--tls-cert", str(files.cert), "--tls-key", str(files.key)), wait=False)
    requests.get("https://127.0.0.1:...", verify=str(files.ca))

The CA never leaves the test's temporary directory; nothing is installed into a system trust store.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

DEFAULT_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # PEM of the CA certificate: what clients must trust (requests `verify=`, Node `ca`)
    cert: Path  # PEM of the server certificate followed by its chain (for `--tls-cert`)
    key: Path  # PEM of the server's private key (for `--tls-key`)

    def client_context(self) -> ssl.SSLContext:
        """An SSL context (for urllib, aiohttp, websockets) that trusts only this CA."""
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls_files(directory: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> TlsFiles:
    """Create a fresh CA and a server certificate valid for `hosts`, written as PEM files into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert(*hosts)
    files = TlsFiles(ca=directory / "ca.pem", cert=directory / "server-cert.pem", key=directory / "server-key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    leaf.private_key_pem.write_to_path(str(files.key))
    # The leaf first, then the intermediates/CA: what servers expect in a certificate chain file.
    with files.cert.open("wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    return files
