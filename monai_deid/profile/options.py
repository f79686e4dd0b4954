"""The options of the PS3.15 Annex E confidentiality profile as keyword arguments."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["METHOD_CODES", "ProfileOptions"]

#: De-identification Method Code Sequence codes (scheme DCM) of the profile and each option (PS3.16 CID 7050)
METHOD_CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_graphics": ("113103", "Clean Graphics Option"),
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "retain_long_full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain_long_modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "retain_uids": ("113110", "Retain UIDs Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
    "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
}


@dataclass(frozen=True)
class ProfileOptions:
    """Which PS3.15 options apply on top of the basic profile.

    Args:
        retain_safe_private: keep the private attributes of Table E.3.10-1 (matched by private creator and element
            offset); every other private attribute is removed either way.
        retain_uids: keep UIDs instead of replacing them with keyed ``2.25`` UIDs.
        retain_device_identity: keep device identifiers (serial numbers, station names, AE titles cleaned).
        retain_institution_identity: keep institution names, addresses and codes.
        retain_patient_characteristics: keep age (over 89 years as 90), sex, size, weight and similar; clean allergies
            and state.
        retain_long_full_dates: keep dates and times unchanged (wins over ``retain_long_modified_dates``).
        retain_long_modified_dates: shift dates by one keyed offset per patient, so intervals survive (default).
        clean_descriptors: keep free-text descriptions and comments with identifying text removed (default); off,
            they are removed.
        clean_structured_content: keep structured content (Content Sequence, Acquisition Context) with identifying
            text removed; off, it is emptied or removed.
        clean_graphics: clean graphic annotations and overlay comments (default). Overlay and curve bitmaps cannot
            be inspected in the header and are always removed with their whole repeating group.
    """

    retain_safe_private: bool = False
    retain_uids: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_patient_characteristics: bool = False
    retain_long_full_dates: bool = False
    retain_long_modified_dates: bool = True
    clean_descriptors: bool = True
    clean_structured_content: bool = False
    clean_graphics: bool = True

    @property
    def shift_dates(self) -> bool:
        """Whether dates are shifted (modified dates), as opposed to kept (full dates) or removed (neither)."""
        return self.retain_long_modified_dates and not self.retain_long_full_dates

    def applied(self) -> tuple[str, ...]:
        """The names of the options in effect, in the order their columns are applied (later wins)."""
        names = [f.name for f in fields(self) if getattr(self, f.name)]
        if self.retain_long_full_dates and self.retain_long_modified_dates:
            names.remove("retain_long_modified_dates")
        return tuple(sorted(names, key=_APPLY_ORDER.index))


# Clean options come first and retain options after them: a user who retains something explicitly keeps it even
# where a clean option would also apply; full dates come last so they win over modified dates.
_APPLY_ORDER = [
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
    "retain_safe_private",
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_long_modified_dates",
    "retain_long_full_dates",
]
