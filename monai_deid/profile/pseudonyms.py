"""Keyed pseudonyms for Patient ID and Patient Name, and the per-patient date offset."""

from __future__ import annotations

from monai_deid.profile.mapping import IdentifierMapping
from monai_deid.secret import Secret

__all__ = ["Pseudonymizer"]

# Offsets move dates 1 to 11 years into the past: large enough to hide the real dates, small enough to keep
# seasonal and age-related context plausible.
_MIN_OFFSET_DAYS = 365
_OFFSET_SPAN_DAYS = 3650


class Pseudonymizer:
    """Stable pseudonyms and date offsets derived from the original patient identity under the secret.

    Args:
        secret: the key.
        mapping: optional record of original -> pseudonym for authorised re-linking.
    """

    def __init__(self, secret: Secret, mapping: IdentifierMapping | None = None) -> None:
        self._secret = secret
        self._mapping = mapping

    def patient_id(self, patient_key: str) -> str:
        """The pseudonymous Patient ID of a patient (``ANON`` + 16 hex digits)."""
        new = self._pseudonym(patient_key)
        if self._mapping is not None:
            self._mapping.record(patient_key, new)
        return new

    def patient_name(self, patient_key: str, original_name: str) -> str:
        """The pseudonymous Patient Name: the patient's pseudonymous ID as the family name component."""
        new = self._pseudonym(patient_key)
        if self._mapping is not None and original_name:
            self._mapping.record(original_name, new)
        return new

    def _pseudonym(self, patient_key: str) -> str:
        return "ANON" + self._secret.digest("patient", patient_key)[:8].hex().upper()

    def date_offset_days(self, patient_key: str) -> int:
        """Days (negative) added to every date of this patient, the same in every file and run."""
        value = int.from_bytes(self._secret.digest("date-offset", patient_key)[:4], "big")
        return -(_MIN_OFFSET_DAYS + value % _OFFSET_SPAN_DAYS)
