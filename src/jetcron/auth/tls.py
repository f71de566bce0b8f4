"""The TLS files of an auth dir: a local CA and a server certificate for the embedded server."""

from __future__ import annotations

import socket
from pathlib import Path

from jetcron.auth import identity


class LocalTLS:
    """The TLS files of one auth dir: ca.pem (trust this), server-cert.pem, server-key.pem."""

    def __init__(self, directory: Path) -> None:
        self.ca = directory / "ca.pem"
        self.ca_key = directory / "ca-key.pem"
        self.cert = directory / "server-cert.pem"
        self.key = directory / "server-key.pem"

    @property
    def exists(self) -> bool:
        """All four files are there."""
        return all(p.is_file() for p in (self.ca, self.ca_key, self.cert, self.key))

    def ensure(self, hosts: list[str] | None = None) -> bool:
        """Create the CA and a server cert for `hosts` (default: this host) if missing; made?"""
        if self.exists:
            return False
        from jetcron.auth import certs  # why: cryptography loads in ~50 ms; only here

        names = hosts or ["localhost", "127.0.0.1", "::1", socket.gethostname()]
        ca, ca_key, cert, key = certs.generate(names)
        identity.write(self.ca_key, ca_key)
        identity.write(self.key, key)
        self.cert.write_bytes(cert)
        self.ca.write_bytes(ca)
        return True

    def client(self, name: str, directory: Path) -> tuple[Path, Path]:
        """Issue a client certificate for `name` from this CA: (cert, key) files in `directory`."""
        from jetcron.auth import certs

        cert, key = certs.client(self.ca.read_bytes(), self.ca_key.read_bytes(), name)
        directory.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
        identity.write(key_file, key)
        cert_file.write_bytes(cert)
        return cert_file, key_file
