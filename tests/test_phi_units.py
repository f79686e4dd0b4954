"""Unit tests of the PHI evidence sources on real headers: header values, renderings, matching, line context,
free-text spans, and ClassifyPHId inside a MONAI Compose."""

from __future__ import annotations

from importlib import resources

import pydicom
import pytest
import torch
import yaml
from monai.transforms import Compose
from pydicom.dataset import Dataset

from monai_deid.phi import (
    Allowlist,
    ClassifyPHI,
    ClassifyPHId,
    HeaderMatcher,
    HeaderValue,
    collect_header_values,
    find_patterns,
    find_phi_spans,
    render,
)
from monai_deid.phi.allowlist import _read_yaml, load_placeholders
from monai_deid.regions import TextRegion
from tests.datafiles import pydicom_data_file, pydicom_test_file
from tests.test_phi_table import one_per_line


def _header(name: str) -> Dataset:
    return pydicom.dcmread(pydicom_data_file(name), stop_before_pixels=True)


def test_header_values_at_every_depth_with_keywords():
    ds = Dataset()
    ds.PatientName = "DOE^JANE"
    item = Dataset()
    item.PerformingPhysicianName = "ROE^RICHARD"
    item.add_new(0x00091010, "PN", "PRIVATE^PERSON")
    ds.ProcedureCodeSequence = pydicom.Sequence([item])
    ds.SeriesDescription = "SAG LIVER"  # clinical free text: not a value to look for
    values = collect_header_values(ds)
    assert HeaderValue("PatientName", "DOE^JANE", "name") in values
    assert HeaderValue("PerformingPhysicianName", "ROE^RICHARD", "name") in values
    assert HeaderValue("PrivateName", "PRIVATE^PERSON", "name") in values
    assert not any(v.keyword == "SeriesDescription" for v in values)


def test_real_header_values():
    keywords = {v.keyword for v in collect_header_values(_header("US1_UNCR.dcm"))}
    assert {"PatientName", "PatientID", "InstitutionName", "StudyDate", "StudyTime", "StationName"} <= keywords
    assert {"DeviceSerialNumber"} <= keywords
    ct = collect_header_values(pydicom.dcmread(pydicom_test_file("CT_small.dcm"), stop_before_pixels=True))
    assert any(v.kind == "date" for v in ct) and any(v.kind == "name" for v in ct)


def test_renderings_of_dates_times_names():
    dates = render(HeaderValue("PatientBirthDate", "19510829", "date"))
    for shown in ("08/29/1951", "29-AUG-51", "1951-08-29", "29.08.1951", "29/08/1951", "AUG 29 1951"):
        assert shown in dates
    times = render(HeaderValue("StudyTime", "140322.5", "time"))
    assert {"14:03:22", "14:03", "2:03 PM"} <= set(times)
    names = render(HeaderValue("PatientName", "DOE^JOHN", "name"))
    assert {"DOE, JOHN", "DOE^JOHN", "JOHN DOE", "J. DOE", "DOE,JOHN"} <= set(names)


def test_vocabulary_words_in_values_need_the_whole_value():
    """OBXXXX1A's patient name is "OB": the name field "OB" is PHI, the preset "Gen OB" is not."""
    allowlist = Allowlist()
    matcher = HeaderMatcher(collect_header_values(_header("OBXXXX1A.dcm")), allowlist.is_term, load_placeholders())
    assert [m.keyword for m in matcher.find("OB")][:1] == ["PatientName"]
    assert matcher.find("Gen OB") == []
    assert matcher.find("PHILIPS") == []  # logo; the institution is "Philips Healthcare"
    assert matcher.find("Philips Healthcare")[0].keyword == "InstitutionName"
    assert matcher.find("11-05-25-142825")[0].keyword == "PatientID"


@pytest.mark.parametrize(
    ("name", "reading"),
    [
        ("O'Brien^Seán", "SEAN"),  # "SEAN" alone is also "SE" + "AN" on the allowlist: it was kept
        ("Lefèvre^Hélène", "HELENE"),  # two accents: more than the one edit fuzzy matching allows
        ("Núñez^José", "JOSE NUNEZ"),
        ("Dvořák^Zoë", "ZOE"),
        ("Øster^Åse", "OSTER ASE"),
        ("Łukasz^Anna", "LUKASZ"),
    ],
)
def test_accented_names_match_their_readings_without_accents(name: str, reading: str):
    """EasyOCR's English recogniser reads accented letters as their base letters; the header value must still match."""
    ds = Dataset()
    ds.PatientName = name
    (region,) = ClassifyPHI(ner_model=None)([TextRegion((0,), (0, 0, 40, 12), reading, 0.9)], ds)
    assert (region.is_phi, region.reason) == (True, "header:PatientName")


@pytest.mark.parametrize(
    ("reading", "reason"),
    [("J 0 H N", "header:PatientName"), ("D 0 E", "header:PatientName"), ("0 0 4 1 2 3 7 7", "header:PatientID")],
)
def test_letter_spaced_values_are_read_as_words(reading: str, reason: str):
    """Letter by letter, each character is a digit or a letter the allowlist explains: "J 0 H N" was kept."""
    ds = Dataset()
    ds.PatientName, ds.PatientID = "DOE^JOHN", "00412377"
    (region,) = ClassifyPHI(ner_model=None)([TextRegion((0,), (0, 0, 60, 12), reading, 0.9)], ds)
    assert (region.is_phi, region.reason) == (True, reason)


def test_a_letter_spaced_value_cut_into_pieces_is_read_whole():
    ds = Dataset()
    ds.PatientName = "DOE^JOHN"
    pieces = [TextRegion((0,), (10, 10, 30, 22), "J O", 0.9), TextRegion((0,), (38, 10, 58, 22), "H N", 0.9)]
    assert [r.is_phi for r in ClassifyPHI(ner_model=None)(pieces, ds)] == [True, True]


def test_letter_spaced_clinical_terms_stay():
    regions = [TextRegion((0,), (0, 20 * k, 60, 20 * k + 12), t, 0.9) for k, t in enumerate(["G E N", "C I N E"])]
    assert [r.is_phi for r in ClassifyPHI(ner_model=None)(regions, Dataset())] == [False, False]


def test_placeholder_values_are_not_looked_for():
    matcher = HeaderMatcher(
        collect_header_values(_header("gdcm-US-ALOKA-16.dcm")), Allowlist().is_term, load_placeholders()
    )
    assert matcher.find("NO INFO") == []
    assert matcher.find("98279")[0].keyword == "PatientID"


def test_patterns_read_through_ocr_confusions():
    assert [m.category for m in find_patterns("5/25/2O11")] == ["date"]
    assert [m.category for m in find_patterns("0g: 04")] == ["time"]
    assert find_patterns("3 / 3 / 4") == [] and find_patterns("TIS<O.4 MI=0.8") == []


def test_find_phi_spans_in_free_text():
    ds = _header("US1_UNCR.dcm")
    text = "Seen at BAPTIST MED CTR on 08/26/2004, liver normal, call 503-555-0142"
    spans = find_phi_spans(text, ds)
    # the study date is also the instance creation date, which comes first in the header
    assert [r for _, _, r in spans] == ["header:InstitutionName", "header:InstanceCreationDate", "pattern:phone"]
    assert [text[s:e] for s, e, _ in spans] == ["BAPTIST MED CTR", "08/26/2004", "503-555-0142"]
    assert find_phi_spans("liver normal, no focal lesion") == []


def test_split_line_regions_share_evidence():
    ds = _header("US1_UNCR.dcm")
    regions = [
        TextRegion((0,), (16, 20, 90, 34), "BAPTIST", 0.9),
        TextRegion((0,), (97, 20, 114, 34), "MED", 0.9),
        TextRegion((0,), (137, 20, 160, 34), "CTR", 0.9),
        TextRegion((0,), (300, 200, 330, 214), "MED", 0.9),  # alone on its line: a clinical word
        TextRegion((0,), (100, 50, 160, 64), "10:42:17", 0.9),
        TextRegion((0,), (165, 50, 185, 64), "AM", 0.9),
    ]
    out = ClassifyPHI(ner_model=None)(regions, ds)
    assert [r.is_phi for r in out] == [True, True, True, False, True, True]
    assert out[1].reason == "header:InstitutionName" and out[4].reason == "pattern:time"


def test_letters_read_one_by_one_are_read_as_a_word():
    ds = _header("US1_UNCR.dcm")
    ds.PatientName, ds.PatientID = "ZEBRAFINCH^QUILLON", "QX7731905"
    spaced = [TextRegion((0,), (10 + 45 * i, 100, 24 + 45 * i, 118), c, 0.9) for i, c in enumerate("ZEBRAFINCH")]
    stacked = [TextRegion((0,), (500, 10 + 22 * i, 514, 28 + 22 * i), c, 0.9) for i, c in enumerate("QX7731905")]
    markers = [TextRegion((0,), (300, 300, 312, 316), "R", 0.9), TextRegion((0,), (400, 300, 412, 316), "L", 0.9)]
    out = ClassifyPHI(ner_model=None)(spaced + stacked + markers, ds)
    assert all(r.is_phi for r in out[:-2]) and not any(r.is_phi for r in out[-2:])


def test_dict_transform_in_compose_writes_only_labels():
    ds = _header("US1_UNCR.dcm")
    regions = one_per_line(["BAPTIST MED CTR", "LYMPH NODE", "13US1"])
    data = {"image": torch.zeros(3, 1, 8, 8, dtype=torch.uint8), "image_dicom": ds, "image_text": regions}
    out = Compose([ClassifyPHId(keys="image", ner_model=None)])(data)
    assert [r.reason for r in out["image_text"]] == ["header:InstitutionName", "allowlist:preset", "header:PatientID"]
    records = [r.audit_record() for r in out["image_text"]]
    assert all("text" not in r for r in records)
    assert data["image_text"][0].is_phi is None  # the input list is left as it was


def test_reasons_never_quote_the_text():
    texts = ["KOWALSKI", "Name: KOWALSKI", "12/03/2019", "Dr. KOWALSKI", "kowalski@x.org"]
    ds = Dataset()
    ds.PatientName = "KOWALSKI^ANNA"
    out = ClassifyPHI(ner_model=None)(one_per_line(texts), ds)
    assert all("KOWALSKI" not in r.reason.upper() and "2019" not in r.reason for r in out)


def test_extra_allowlist_file(tmp_path):
    """Site terms are data: a YAML file with the vocabulary's layout keeps them (and names the reason)."""
    extra = tmp_path / "site.yaml"
    extra.write_text("site_probe: [XQ-77, ZETAPROBE]\nformats:\n  site_counter: ['^zetax\\s?\\d{1,3}$']\n")
    texts = ["ZETAPROBE XQ-77", "ZETAX 12", "KOWALSKI"]
    regions = one_per_line(texts)
    plain = ClassifyPHI(ner_model=None)(regions, None)
    site = ClassifyPHI(ner_model=None, extra_allowlist=extra)(regions, None)
    assert [r.is_phi for r in plain] == [True, True, True]
    assert [r.reason for r in site] == ["allowlist:site_probe", "allowlist:site_counter", "policy:doubt"]


def test_shipped_vocabulary_reads_the_same_with_libyaml_and_pure_python():
    """The allowlist reads its YAML with libyaml where PyYAML has it: the vocabulary must be the same terms and formats
    that PyYAML's own safe loader reads."""
    source = resources.files("monai_deid.phi").joinpath("clinical_vocabulary.yaml").read_text(encoding="utf-8")
    expected = yaml.safe_load(source)
    assert _read_yaml(source) == expected
    assert sum(len(terms) for terms in expected.values()) > 100  # the whole file, not a stub
