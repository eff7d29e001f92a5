"""Encryption of personal data at rest (AES-256-GCM, rotating keys) and keyed look-up hashes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KEY_BYTES = 32
_NONCE_BYTES = 12


class PiiDecryptError(Exception):
    """A token that cannot be read; deliberately says nothing about why or what it held."""


class PiiCipher:
    """Tokens are ``<key_id>:<urlsafe-base64(nonce + ciphertext + tag)>``; old key ids keep decrypting."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str, lookup_key: bytes) -> None:
        if current_key_id not in keys:
            raise ValueError("the current key id has no key")
        if any(not key_id or ":" in key_id for key_id in keys):
            raise ValueError("key ids must be non-empty and free of ':'")
        if any(len(key) != _KEY_BYTES for key in (*keys.values(), lookup_key)):
            raise ValueError(f"every key must be {_KEY_BYTES} bytes")
        if lookup_key in keys.values():
            raise ValueError("the lookup key must differ from the encryption keys")
        self._aeads = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current_key_id
        self._lookup_key = lookup_key

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """``context`` (e.g. ``"identity.document_number:42"``) must be given again to decrypt."""
        # A random 96-bit nonce per message: safe far beyond the number of rows we will hold.
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aeads[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{self._current}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, token: str, *, context: str) -> str:
        try:
            key_id, _, body = token.partition(":")
            blob = base64.b64decode(body, altchars=b"-_", validate=True)
            # Base64 has slack bits; demanding the canonical encoding makes every altered character fail.
            if base64.urlsafe_b64encode(blob).decode("ascii") != body:
                raise ValueError
            plaintext = self._aeads[key_id].decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], context.encode()
            )
            return plaintext.decode()
        except (KeyError, ValueError, binascii.Error, InvalidTag):
            raise PiiDecryptError("cannot decrypt this PII token") from None

    def key_id_of(self, token: str) -> str:
        """Which key sealed a token, so a rotation job can find what to re-encrypt."""
        return token.partition(":")[0]

    def lookup_hash(self, value: str) -> str:
        """Keyed, so the hashes of a small space such as ID numbers cannot be brute-forced offline.

        Callers prefix a namespace (``"hkid:A1234563"``) so equal strings of different kinds differ.
        """
        return hmac.new(self._lookup_key, value.encode(), hashlib.sha256).hexdigest()
