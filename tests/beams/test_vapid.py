from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tidings.beams.vapid import generate_keypair, load_private_key, public_key_b64


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_public_key_is_the_uncompressed_p256_point_unpadded_base64url() -> None:
    _, public = generate_keypair()
    assert "=" not in public and "+" not in public and "/" not in public
    raw = b64url_decode(public)
    assert len(raw) == 65 and raw[0] == 0x04


def test_private_key_is_pkcs8_pem_and_matches_the_public_key() -> None:
    private, public = generate_keypair()
    assert private.startswith("-----BEGIN PRIVATE KEY-----")
    assert public_key_b64(private) == public


def test_sign_with_private_verify_with_published_public_key() -> None:
    private, public = generate_keypair()
    key = load_private_key(private)
    signature = key.sign(b"vapid jwt signing input", ec.ECDSA(hashes.SHA256()))
    verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(public))
    verifier.verify(signature, b"vapid jwt signing input", ec.ECDSA(hashes.SHA256()))


def test_each_keypair_is_fresh() -> None:
    assert generate_keypair()[1] != generate_keypair()[1]


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param("not a pem", id="garbage"),
        pytest.param(_pem(ec.generate_private_key(ec.SECP384R1())), id="p384"),
        pytest.param(_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)), id="rsa"),
    ],
)
def test_foreign_keys_are_refused(pem: str) -> None:
    with pytest.raises(ValueError):
        public_key_b64(pem)
