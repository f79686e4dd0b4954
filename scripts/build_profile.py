"""Build the package data of ``monai_deid.profile`` from the PS3.15 reference tables.

Reads Table E.1-1 (``confidentiality_profile_attributes.json``) and Table E.3.10-1 (``safe_private_attributes.tsv``)
from the shared reference folder and writes the project's own format:

- ``monai_deid/profile/table_e1_1.json``: one record per attribute with the basic profile code as published, the
  concrete action a choice code resolves to (and why), and the action of every option column under the project's
  keyword-argument names.
- ``monai_deid/profile/safe_private.json``: the safe private attributes as (group, private creator, element offset).

Run: ``python scripts/build_profile.py [--reference DIR]``. The reference files themselves are not committed.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import pydicom.datadict

EDITION = "DICOM PS3.15 2024e (Table E.1-1 and Table E.3.10-1)"
SOURCE_TABLE = "innolitics/dicom-standard commit 7f4749d (January 2025)"
SOURCE_SAFE_PRIVATE = "cati-neuroimaging/deidentification"
DEFAULT_REFERENCE = Path("/work/shared/reference/ps315")
PROFILE_DIR = Path(__file__).resolve().parent.parent / "monai_deid" / "profile"

#: reference option column -> keyword argument of ScrubMetadata
OPTION_COLUMNS = {
    "rtnSafePrivOpt": "retain_safe_private",
    "rtnUIDsOpt": "retain_uids",
    "rtnDevIdOpt": "retain_device_identity",
    "rtnInstIdOpt": "retain_institution_identity",
    "rtnPatCharsOpt": "retain_patient_characteristics",
    "rtnLongFullDatesOpt": "retain_long_full_dates",
    "rtnLongModifDatesOpt": "retain_long_modified_dates",
    "cleanDescOpt": "clean_descriptors",
    "cleanStructContOpt": "clean_structured_content",
    "cleanGraphOpt": "clean_graphics",
}

# Choice codes resolve to the strictest action unless the attribute is Type 1 or Type 2 in a composite IOD that
# holds it, where it must stay present (PS3.15 E.1.1): Type 2 -> Z, Type 1 -> D. These are the choice attributes
# that are Type 1/1C or 2/2C in some IOD (checked against PS3.3 and with dciodvfy on pydicom's CT/MR/SC/RT files);
# every other choice resolves to X. U* keeps reference sequences with their UIDs replaced, so references survive.
KEEP_PRESENT = {
    "00400555": ("Z", "Type 2 in the Acquisition Context module"),
    "0008002A": ("D", "Type 1C in the Enhanced image modules (Acquisition DateTime)"),
    "00700084": ("Z", "Type 2 in the Presentation State Identification module"),
    "00080023": ("D", "Type 1 in enhanced and multi-frame image modules, 2C in General Image"),
    "00080033": ("D", "Type 1 in enhanced and multi-frame image modules, 2C in General Image"),
    "00180010": ("Z", "Type 2 in the Contrast/Bolus module"),
    "00081070": ("Z", "Type 2 in the RT Series module"),
    "00181000": ("D", "Type 1 in the Enhanced General Equipment module"),
    "00189919": ("Z", "Type 2 in the Instructions module"),
    "0040A032": ("D", "Type 1C in content items (Observation DateTime)"),
    "00102203": ("Z", "Type 2C in the Patient module (non-human organisms)"),
    "00100020": ("D", "Type 2 in the Patient module; replaced by the keyed pseudonym"),
    "00081140": ("U", "Type 1C/2C in several IODs; UIDs replaced consistently (U*)"),
    "00082112": ("U", "Type 1C/2C in derived images; UIDs replaced consistently (U*)"),
    "300E0008": ("Z", "Type 2C in the Approval module"),
    "300A0006": ("D", "Type 2 in the RT General Plan module"),
    "300A0007": ("D", "Type 2 in the RT General Plan module"),
    "00080021": ("D", "Type 1C in the Enhanced Series modules"),
    "00080031": ("D", "Type 1C in the Enhanced Series modules"),
    "300A00B2": ("Z", "Type 2 in the RT Beams module"),
}


def _resolve(tag_id: str, code: str) -> tuple[str, str]:
    """The concrete action of a basic-profile code and the reason for a choice."""
    if "/" not in code:
        return code, ""
    if tag_id in KEEP_PRESENT:
        action, why = KEEP_PRESENT[tag_id]
        allowed = code.replace("U*", "U").split("/")
        if action not in allowed:
            raise ValueError(f"{tag_id}: resolved action {action} is not one of {code}")
        return action, why
    return "X", "Type 3 (or absent) in every composite IOD: strictest choice"


def _keyword(tag_id: str) -> str:
    if "X" in tag_id:
        return ""
    return pydicom.datadict.keyword_for_tag(int(tag_id, 16)) or ""


def build_table(reference: Path) -> dict:
    rows = json.loads((reference / "confidentiality_profile_attributes.json").read_text())
    attributes, repeating = [], []
    for row in rows:
        match = re.fullmatch(r"\(([0-9A-FX]{4}),([0-9A-FX]{4})\)", row["tag"].upper())
        if match is None:  # "(GGGG,EEEE) WHERE GGGG IS ODD": private attributes, handled by code
            continue
        tag_id = match.group(1) + match.group(2)
        action, why = _resolve(tag_id, row["basicProfile"])
        record = {
            "tag": tag_id,
            "keyword": _keyword(tag_id),
            "name": row["name"],
            "in_standard_iod": row["stdCompIOD"] == "Y",
            "basic": row["basicProfile"],
            "action": action,
            "options": {kw: row[col] for col, kw in OPTION_COLUMNS.items() if col in row},
        }
        if why:
            record["choice"] = why
        (repeating if "X" in tag_id else attributes).append(record)
    attributes.sort(key=lambda r: r["tag"])
    return {
        "edition": EDITION,
        "source": SOURCE_TABLE,
        "actions": "D dummy, Z zero length, X remove, K keep, C clean, U replace UID",
        "attributes": attributes,
        "repeating_groups": repeating,
    }


def build_safe_private(reference: Path) -> dict:
    entries = set()
    with open(reference / "safe_private_attributes.tsv", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader)
        for element, creator, meaning in reader:
            group, elem = element.strip().strip("()").split(",")
            entries.add((group.upper(), creator.strip(), elem.upper()[-2:], meaning.strip()))
    return {
        "edition": EDITION,
        "source": SOURCE_SAFE_PRIVATE,
        "attributes": [{"group": g, "creator": c, "offset": o, "meaning": m} for g, c, o, m in sorted(entries)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=PROFILE_DIR)
    args = parser.parse_args()
    for name, data in (
        ("table_e1_1.json", build_table(args.reference)),
        ("safe_private.json", build_safe_private(args.reference)),
    ):
        (args.out / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {args.out / name}: {len(data['attributes'])} attributes")


if __name__ == "__main__":
    main()
