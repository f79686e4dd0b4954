"""Replacement UIDs: ``2.25.<int>`` from an HMAC of the original UID, identical in every file, run and batch."""

from __future__ import annotations

from pydicom.uid import UID_dictionary

from monai_deid.profile.mapping import IdentifierMapping
from monai_deid.secret import Secret

__all__ = ["UidReplacer", "is_well_known_uid"]


def is_well_known_uid(uid: str) -> bool:
    """SOP classes, transfer syntaxes, coding schemes and other UIDs of the standard: never replaced."""
    return uid in UID_dictionary


class UidReplacer:
    """Maps an original UID to its keyed replacement.

    The first 128 bits of HMAC-SHA256(secret, uid) become a UUID of version 8 (RFC 9562, custom) whose integer
    value follows ``2.25.`` as PS3.5 B.2 prescribes; the result is at most 44 characters.

    Args:
        secret: the key; without it nobody can confirm a guessed original UID.
        mapping: optional record of original -> new values for authorised re-linking.
    """

    def __init__(self, secret: Secret, mapping: IdentifierMapping | None = None) -> None:
        self._secret = secret
        self._mapping = mapping
        self._cache: dict[str, str] = {}

    def __call__(self, uid: str) -> str:
        uid = uid.strip().rstrip("\x00")
        if not uid or is_well_known_uid(uid):
            return uid
        new = self._cache.get(uid)
        if new is None:
            raw = bytearray(self._secret.digest("uid", uid)[:16])
            raw[6] = (raw[6] & 0x0F) | 0x80  # UUID version 8
            raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
            new = f"2.25.{int.from_bytes(raw, 'big')}"
            self._cache[uid] = new
            if self._mapping is not None:
                self._mapping.record(uid, new)
        return new
