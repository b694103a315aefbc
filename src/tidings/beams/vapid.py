"""VAPID key pairs (RFC 8292) for Web Push: one P-256 key per instance (docs/protocol/beams.md §5).

The private key is stored as PKCS#8 PEM; browsers get the public key as the unpadded base64url of the
65-byte uncompressed point, which is what `pushManager.subscribe({applicationServerKey})` takes.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def generate_keypair() -> tuple[str, str]:
    """(private key PEM, public key base64url) of a fresh P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return pem, _public_b64(key)


def load_private_key(private_pem: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 key in `private_pem`; ValueError if it is not one (a corrupt or foreign key in storage)."""
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("VAPID key must be a P-256 (prime256v1) EC private key")
    return key


def public_key_b64(private_pem: str) -> str:
    return _public_b64(load_private_key(private_pem))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _public_b64(key: ec.EllipticCurvePrivateKey) -> str:
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url_encode(point)
