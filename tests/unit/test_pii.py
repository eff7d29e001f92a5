from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crossbay.pii import PiiCipher, PiiDecryptError

OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(32, 64))
LOOKUP_KEY = bytes(range(64, 96))
CONTEXT = "identity.document_number:42"


def cipher(keys: dict[str, bytes] | None = None, current: str = "k2") -> PiiCipher:
    return PiiCipher(keys or {"k1": OLD_KEY, "k2": NEW_KEY}, current, LOOKUP_KEY)


class TestConstruction:
    @pytest.mark.parametrize(
        ("keys", "current", "lookup"),
        [
            ({"k1": OLD_KEY[:31]}, "k1", LOOKUP_KEY),
            ({"k1": OLD_KEY + b"\0"}, "k1", LOOKUP_KEY),
            ({"k1": OLD_KEY, "k2": b"short"}, "k1", LOOKUP_KEY),
            ({"k1": OLD_KEY}, "k2", LOOKUP_KEY),
            ({}, "k1", LOOKUP_KEY),
            ({"k1": OLD_KEY}, "k1", LOOKUP_KEY[:16]),
            ({"k:1": OLD_KEY}, "k:1", LOOKUP_KEY),
            ({"": OLD_KEY}, "", LOOKUP_KEY),
            ({"k1": OLD_KEY}, "k1", OLD_KEY),
        ],
    )
    def test_refuses_a_bad_key_set(self, keys: dict[str, bytes], current: str, lookup: bytes) -> None:
        with pytest.raises(ValueError):
            PiiCipher(keys, current, lookup)


class TestRoundTrip:
    @given(st.text(), st.text())
    def test_decrypts_what_it_encrypted(self, plaintext: str, context: str) -> None:
        c = cipher()
        assert c.decrypt(c.encrypt(plaintext, context=context), context=context) == plaintext

    @given(st.text(min_size=1))
    def test_token_is_url_safe_and_carries_the_current_key_id(self, plaintext: str) -> None:
        token = cipher().encrypt(plaintext, context=CONTEXT)
        assert re.fullmatch(r"k2:[A-Za-z0-9_-]+=*", token)

    def test_token_hides_the_plaintext_and_never_repeats(self) -> None:
        c = cipher()
        first, second = (c.encrypt("A1234563", context=CONTEXT) for _ in range(2))
        assert first != second
        for token in (first, second):
            assert "A1234563" not in token
            assert b"A1234563" not in base64.urlsafe_b64decode(token.partition(":")[2])


class TestTampering:
    @given(st.data())
    def test_any_changed_character_fails(self, data: st.DataObject) -> None:
        c = cipher()
        token = c.encrypt("陳大文", context=CONTEXT)
        i = data.draw(st.integers(0, len(token) - 1))
        replacement = data.draw(st.sampled_from("ABCXYZabcxyz0189-_=:k"))
        assume(replacement != token[i])
        with pytest.raises(PiiDecryptError):
            c.decrypt(token[:i] + replacement + token[i + 1 :], context=CONTEXT)

    @given(st.data())
    def test_any_flipped_bit_fails(self, data: st.DataObject) -> None:
        c = cipher()
        key_id, _, body = c.encrypt("A1234563", context=CONTEXT).partition(":")
        blob = bytearray(base64.urlsafe_b64decode(body))
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        with pytest.raises(PiiDecryptError):
            c.decrypt(f"{key_id}:{base64.urlsafe_b64encode(bytes(blob)).decode()}", context=CONTEXT)

    def test_another_spelling_of_the_same_bytes_fails(self) -> None:
        c = cipher()
        key_id, _, body = c.encrypt("陳大文", context=CONTEXT).partition(":")
        blob = base64.urlsafe_b64decode(body)
        # 37 bytes: the last base64 digit before "==" carries 4 unused bits.
        assert len(blob) % 3 == 1
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        digits = body.rstrip("=")
        respelled = digits[:-1] + alphabet[alphabet.index(digits[-1]) ^ 1] + "=="
        assert base64.urlsafe_b64decode(respelled) == blob
        with pytest.raises(PiiDecryptError):
            c.decrypt(f"{key_id}:{respelled}", context=CONTEXT)

    @pytest.mark.parametrize(
        "token", ["", "k2", "k2:", "k2:AAAA", "k2:!!!!", "nokey", ":abc", "k9:" + "A" * 40]
    )
    def test_garbage_fails(self, token: str) -> None:
        with pytest.raises(PiiDecryptError):
            cipher().decrypt(token, context=CONTEXT)

    def test_truncated_token_fails(self) -> None:
        c = cipher()
        token = c.encrypt("A1234563", context=CONTEXT)
        with pytest.raises(PiiDecryptError):
            c.decrypt(token[:-4], context=CONTEXT)

    def test_the_error_says_nothing_of_the_data(self) -> None:
        c = cipher()
        token = c.encrypt("A1234563", context=CONTEXT)
        with pytest.raises(PiiDecryptError) as excinfo:
            c.decrypt(token, context="identity.document_number:43")
        assert token not in str(excinfo.value)
        assert "A1234563" not in str(excinfo.value)
        assert excinfo.value.__cause__ is None
        assert excinfo.value.__suppress_context__


class TestContext:
    @given(st.text(), st.text())
    def test_another_context_fails(self, context: str, other: str) -> None:
        assume(context != other)
        c = cipher()
        with pytest.raises(PiiDecryptError):
            c.decrypt(c.encrypt("A1234563", context=context), context=other)

    def test_a_value_copied_to_another_row_fails(self) -> None:
        c = cipher()
        token = c.encrypt("A1234563", context="identity.document_number:1")
        with pytest.raises(PiiDecryptError):
            c.decrypt(token, context="identity.document_number:2")


class TestRotation:
    def test_old_tokens_still_decrypt_after_rotation(self) -> None:
        before = PiiCipher({"k1": OLD_KEY}, "k1", LOOKUP_KEY)
        token = before.encrypt("A1234563", context=CONTEXT)
        after = cipher()
        assert token.startswith("k1:")
        assert after.key_id_of(token) == "k1"
        assert after.decrypt(token, context=CONTEXT) == "A1234563"

    def test_new_tokens_use_the_current_key(self) -> None:
        token = cipher().encrypt("A1234563", context=CONTEXT)
        assert token.startswith("k2:")
        only_new = PiiCipher({"k2": NEW_KEY}, "k2", LOOKUP_KEY)
        assert only_new.decrypt(token, context=CONTEXT) == "A1234563"

    def test_a_retired_key_no_longer_decrypts(self) -> None:
        token = PiiCipher({"k1": OLD_KEY}, "k1", LOOKUP_KEY).encrypt("A1234563", context=CONTEXT)
        with pytest.raises(PiiDecryptError):
            PiiCipher({"k2": NEW_KEY}, "k2", LOOKUP_KEY).decrypt(token, context=CONTEXT)

    def test_a_key_id_pointing_at_another_key_fails(self) -> None:
        c = cipher()
        token = c.encrypt("A1234563", context=CONTEXT)
        with pytest.raises(PiiDecryptError):
            c.decrypt("k1:" + token.partition(":")[2], context=CONTEXT)


class TestLookupHash:
    def test_is_the_hmac_sha256_under_the_lookup_key(self) -> None:
        expected = hmac.new(LOOKUP_KEY, b"hkid:A1234563", hashlib.sha256).hexdigest()
        assert cipher().lookup_hash("hkid:A1234563") == expected

    def test_does_not_depend_on_the_encryption_keys(self) -> None:
        other = PiiCipher({"x": bytes(32)}, "x", LOOKUP_KEY)
        assert other.lookup_hash("hkid:A1234563") == cipher().lookup_hash("hkid:A1234563")

    def test_changes_with_the_lookup_key(self) -> None:
        other = PiiCipher({"k1": OLD_KEY}, "k1", bytes(32))
        assert other.lookup_hash("hkid:A1234563") != cipher().lookup_hash("hkid:A1234563")

    @given(st.text(), st.text())
    def test_distinct_values_hash_apart(self, a: str, b: str) -> None:
        assume(a != b)
        assert cipher().lookup_hash(a) != cipher().lookup_hash(b)
