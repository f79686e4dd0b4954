"""ScrubMetadata: PS3.15 Annex E confidentiality profile (basic profile and every option) for DICOM headers."""

from monai_deid.profile.mapping import IdentifierMapping
from monai_deid.profile.options import ProfileOptions
from monai_deid.profile.scrubber import MetadataScrubber
from monai_deid.profile.table import action_map, load_table
from monai_deid.profile.transform import (
    ScrubMetadata,
    ScrubMetadataD,
    ScrubMetadatad,
    ScrubMetadataDict,
    pixels_vouched_clean,
)

__all__ = [
    "IdentifierMapping",
    "MetadataScrubber",
    "ProfileOptions",
    "ScrubMetadata",
    "ScrubMetadataD",
    "ScrubMetadataDict",
    "ScrubMetadatad",
    "action_map",
    "load_table",
    "pixels_vouched_clean",
]
