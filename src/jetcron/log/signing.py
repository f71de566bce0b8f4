"""Triggers signed by the scheduler's nkey, checked by executors before a job runs.

The scheduler signs the exact bytes it appends to `jetcron.trigger.*` and puts the signature
and its public key in two headers; an executor that trusts that key runs nothing else. So a
trigger put on the log by anyone but the scheduler (a misconfigured server, a stolen admin
key) is refused on the device host, whatever NATS let through.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping

import nacl.exceptions
import nacl.signing
import nkeys  # type: ignore[import-untyped]

SIGNATURE = "Jetcron-Signature"
SIGNER = "Jetcron-Signer"


class Signer:
    """Signs with one user nkey (the scheduler's identity)."""

    def __init__(self, seed: str) -> None:
        self._pair = nkeys.from_seed(bytearray(seed.encode()))
        self.public_key: str = self._pair.public_key.decode()

    def headers(self, data: bytes) -> dict[str, str]:
        """The headers that carry the signature of `data`."""
        signature = base64.b64encode(self._pair.sign(data)).decode()
        return {SIGNER: self.public_key, SIGNATURE: signature}


def problem(data: bytes, headers: Mapping[str, str] | None, trusted: Collection[str]) -> str | None:
    """Why a trigger is not signed by a trusted scheduler key, or None if it is."""
    headers = headers or {}
    signer, signature = headers.get(SIGNER), headers.get(SIGNATURE)
    if not signer or not signature:
        return "the trigger is not signed by the scheduler"
    if signer not in trusted:
        return f"the trigger is signed by {signer}, not a trusted scheduler key"
    try:
        _verify_key(signer).verify(data, base64.b64decode(signature, validate=True))
    except (nacl.exceptions.BadSignatureError, binascii.Error, ValueError):
        return "the trigger's signature does not match its content"
    return None


def _verify_key(public_key: str) -> nacl.signing.VerifyKey:
    """The ed25519 key inside a user nkey's public key (prefix byte, key, CRC-16)."""
    # why: the nkeys package verifies only with a seed in hand; its public key format is
    # base32(prefix | 32-byte key | crc16 little-endian).
    raw = base64.b32decode(public_key + "=" * (-len(public_key) % 8))
    if (
        len(raw) != 35
        or raw[0] != nkeys.PREFIX_BYTE_USER
        or nkeys.crc16_checksum(raw[:-2]) != raw[-2:]
    ):
        raise ValueError(f"not a user public key: {public_key}")
    return nacl.signing.VerifyKey(raw[1:33])
