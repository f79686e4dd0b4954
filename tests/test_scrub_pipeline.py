"""ScrubMetadatad between the project's real loader and saver: outputs clean, valid and pixel-exact."""

from __future__ import annotations

import pydicom
from monai.transforms import Compose

from monai_deid.io import LoadDicomWithMetad, SaveDicomd
from monai_deid.profile import ScrubMetadatad
from tests.scrub_studyset import write_study_set
from tests.test_scrub_studyset import all_elements, as_text


def test_load_scrub_save(tmp_path):
    study_set = write_study_set(tmp_path / "in")
    pipeline = Compose(
        [
            LoadDicomWithMetad("image"),
            ScrubMetadatad("image", secret="pipeline-secret-0123", retain_safe_private=True),
            SaveDicomd("image", output_dir=tmp_path / "out"),
        ]
    )
    planted = {s.lower() for s in study_set.strings | study_set.dates | study_set.uids}
    for source in study_set.files[:4]:
        out = pipeline({"image": str(source)})["image_output"]
        assert not any(p in str(out).lower() for p in planted)
        written = pydicom.dcmread(out)
        for elem in all_elements(written):
            assert not any(p in as_text(elem).lower() for p in planted), elem.tag
        assert written.PixelData == pydicom.dcmread(source).PixelData
        assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
        kept = sorted(e.tag for e in written if e.tag.is_private)
        assert kept == [0x00E10010, 0x00E11021, 0x70530010, 0x70531000]
