"""LoadDicomWithMeta / SaveDicom on every real file of pydicom's test data and of pydicom-data."""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from datafiles import PYDICOM_DATA_FILES, PYDICOM_TEST_FILES, all_real_files
from pydicom.pixels import convert_color_space, get_decoder, pixel_array
from validators import iod_errors

from monai_deid.errors import (
    DeidError,
    InvalidDicomError,
    MissingPixelDataError,
    UndecodablePixelDataError,
    UnsupportedContentError,
)
from monai_deid.io import LoadDicomWithMeta, SaveDicom, has_hidden_bits

#: Real files that cannot be loaded, and the typed error each must raise (the rest must round-trip).
EXPECTED_ERRORS: dict[str, type[DeidError]] = {
    "JPEG-lossy.dcm": UndecodablePixelDataError,  # 12-bit JPEG Extended with a broken scan: no decoder reads it
    "JPEG2000-embedded-sequence-delimiter.dcm": UndecodablePixelDataError,
    "MR_truncated.dcm": UndecodablePixelDataError,
    "badVR.dcm": UndecodablePixelDataError,
    "meta_missing_tsyntax.dcm": UndecodablePixelDataError,  # no Bits Allocated
    "nested_priv_SQ.dcm": UndecodablePixelDataError,
    "no_meta.dcm": InvalidDicomError,
    "emri_small_jpeg_2k_lossless_too_short.dcm": MissingPixelDataError,
    "DICOMDIR-empty.dcm": UnsupportedContentError,
    "test-SR.dcm": UnsupportedContentError,
    "reportsi.dcm": UnsupportedContentError,
    "reportsi_with_empty_number_tags.dcm": UnsupportedContentError,
}
#: Real files whose native Pixel Data sets bits outside Bits Stored (beyond a signed value's sign extension).
HIDDEN_BITS_FILES = {"mlut_18.dcm"}
NO_PIXEL_FILES = {
    "ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm", "UN_sequence.dcm", "empty_charset_LEI.dcm",
    "no_meta_group_length.dcm", "priv_SQ.dcm", "rtplan.dcm", "rtplan_truncated.dcm", "rtstruct.dcm",
    "waveform_ecg.dcm",
}  # fmt: skip
REQUIRED_PHOTOMETRICS = {
    "MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR",
}  # fmt: skip
REQUIRED_SYNTAXES = {
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5",
}  # fmt: skip

EXPLICIT_LE = "1.2.840.10008.1.2.1"
#: Changed pixels keep the source syntax where a lossless encoder exists (or move to its lossless sibling).
EXPECTED_REENCODING = {
    syntax: syntax
    for syntax in ["1.2.840.10008.1.2", EXPLICIT_LE, "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.5",
                   "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90"]
} | {"1.2.840.10008.1.2.4.91": "1.2.840.10008.1.2.4.90"}  # fmt: skip

FILES = [p for p in all_real_files() if "dicomdirtests" not in p.parts or p.name == "DICOMDIR-empty.dcm"]
LOADABLE = [p for p in FILES if p.name not in EXPECTED_ERRORS and p.name not in NO_PIXEL_FILES]


def _id(path: Path) -> str:
    return f"{'data' if path.parent == PYDICOM_DATA_FILES else 'pydicom'}:{path.relative_to(path.parents[0])}"


def _read(path: Path) -> pydicom.Dataset:
    """The source file as pydicom reads it, with the transfer syntax it was read in when its file meta has none."""
    ds = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            "1.2.840.10008.1.2" if implicit else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
        )
    return ds


@pytest.fixture(scope="module")
def loader() -> LoadDicomWithMeta:
    return LoadDicomWithMeta()


def test_real_files_cover_every_required_format() -> None:
    headers = [pydicom.dcmread(p, force=True, stop_before_pixels=True) for p in LOADABLE]
    assert {h.PhotometricInterpretation for h in headers} >= REQUIRED_PHOTOMETRICS
    assert {h.file_meta.get("TransferSyntaxUID") for h in headers if hasattr(h, "file_meta")} >= REQUIRED_SYNTAXES
    assert any(int(h.get("NumberOfFrames") or 1) > 1 for h in headers)
    assert {int(h.BitsStored) for h in headers} >= {8, 12, 16}
    assert {int(h.PixelRepresentation) for h in headers} == {0, 1}


@pytest.mark.parametrize("path", [p for p in FILES if p.name in EXPECTED_ERRORS], ids=_id)
def test_bad_real_files_raise_typed_error_naming_the_file(path: Path, loader: LoadDicomWithMeta) -> None:
    with pytest.raises(EXPECTED_ERRORS[path.name]) as info:
        loader(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("badVR.dcm", "NumberOfFrames is not a whole number"),
        ("meta_missing_tsyntax.dcm", "Pixel Data without PhotometricInterpretation, SamplesPerPixel, Rows, Columns"),
    ],
)
def test_undecodable_files_say_what_is_wrong(name: str, reason: str, loader: LoadDicomWithMeta) -> None:
    with pytest.raises(UndecodablePixelDataError) as info:
        loader(PYDICOM_TEST_FILES / name)
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("name", "change", "reason"),
    [
        (
            "CT_small.dcm",
            {"PhotometricInterpretation": "RGB"},
            "Photometric Interpretation RGB with Samples per Pixel 1",
        ),
        ("examples_palette.dcm", {"RedPaletteColorLookupTableData": None}, "PALETTE COLOR without its three lookup"),
    ],
)
def test_headers_that_contradict_their_pixels_say_what_is_wrong(
    name: str, change: dict, reason: str, loader: LoadDicomWithMeta, tmp_path: Path
) -> None:
    ds = _read(PYDICOM_TEST_FILES / name)
    for keyword, value in change.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(tmp_path / name)
    with pytest.raises(UndecodablePixelDataError) as info:
        loader(tmp_path / name)
    assert reason in info.value.reason and name in str(info.value)


@pytest.mark.parametrize("path", [p for p in FILES if p.name in NO_PIXEL_FILES], ids=_id)
def test_objects_without_pixels_are_refused(path: Path, loader: LoadDicomWithMeta) -> None:
    with pytest.raises((MissingPixelDataError, UnsupportedContentError)):
        loader(path)


@pytest.mark.parametrize("path", LOADABLE, ids=_id)
def test_load_gives_all_frames_channel_first_in_stored_dtype(path: Path, loader: LoadDicomWithMeta) -> None:
    image, header, _ = loader(path)
    source = _read(path)
    frames = int(source.get("NumberOfFrames") or 1)
    assert image.shape == (int(source.SamplesPerPixel), frames, int(source.Rows), int(source.Columns))
    assert "PixelData" not in header
    reference = pixel_array(source, raw=True)
    reference = reference.astype(reference.dtype.newbyteorder("="))
    assert torch.equal(image, torch.from_numpy(reference.reshape(frames, *image.shape[2:], -1).transpose(3, 0, 1, 2)))
    assert set(image.meta) >= {"rows", "columns", "frames", "photometric_interpretation", "transfer_syntax"}
    assert "PatientName" not in image.meta and "filename_or_obj" not in image.meta


@pytest.mark.parametrize("path", LOADABLE, ids=_id)
def test_unchanged_pixels_round_trip_byte_identical(path: Path, loader: LoadDicomWithMeta, tmp_path: Path) -> None:
    image, header, encoded = loader(path)
    written = SaveDicom(tmp_path)(image, header, encoded)
    source, output = _read(path), pydicom.dcmread(written)
    assert np.array_equal(output.pixel_array, source.pixel_array)
    if has_hidden_bits(encoded, header):  # pydicom's mlut_18: bits outside Bits Stored set, written from the values
        assert path.name in HIDDEN_BITS_FILES and output.PixelData != source.PixelData
        return
    assert path.name not in HIDDEN_BITS_FILES
    assert output.file_meta.TransferSyntaxUID == source.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2")
    assert output.PixelData == source.PixelData


def test_bits_outside_bits_stored_are_not_written(loader: LoadDicomWithMeta, tmp_path: Path) -> None:
    # a name hidden in bit 15 of 12-bit pixels: no pixel value shows it, the raw bytes do
    ds = pydicom.dcmread(PYDICOM_TEST_FILES / "CT_small.dcm")
    values = np.clip(ds.pixel_array, -2048, 2047).astype(np.int16)
    raw = values.view(np.uint16).copy()
    raw[10:20, 10:60] |= 1 << 14
    ds.BitsStored, ds.HighBit = 12, 11
    ds.PixelData = raw.tobytes()
    ds.preamble = b"DOE^JOHN 19570412".ljust(128, b" ")
    ds.file_meta.ImplementationVersionName = "DOEJOHN"
    ds.file_meta.PrivateInformationCreatorUID = "1.2.3.4"
    ds.file_meta.PrivateInformation = b"DOE^JOHN"
    ds.save_as(tmp_path / "hidden.dcm")
    written = SaveDicom(tmp_path / "out")(*loader(tmp_path / "hidden.dcm"))
    output = pydicom.dcmread(written)
    stored = np.frombuffer(output.PixelData, np.int16).reshape(values.shape)
    assert np.array_equal(stored, output.pixel_array) and np.array_equal(stored, values)  # sign-extended, no bit 14
    assert output.preamble == bytes(128) and output.file_meta.ImplementationVersionName != "DOEJOHN"


#: Independent decoders per output syntax: DCMTK where it has a codec, GDCM for JPEG 2000. (GDCM 3.2's RLE decoder
#: swaps the bytes of 16-bit colour and its gdcmconv cannot rewrite 16-bit multi-frame RGB, even pydicom's own test
#: files; DCMTK and pydicom agree with each other there.)
SECOND_READERS = {
    "1.2.840.10008.1.2.1": ["dcmconv", "+te"],
    "1.2.840.10008.1.2": ["dcmconv", "+te"],
    "1.2.840.10008.1.2.5": ["dcmdrle"],
    "1.2.840.10008.1.2.4.80": ["dcmdjpls"],
    "1.2.840.10008.1.2.4.81": ["dcmdjpls"],
}


def _second_reader_array(path: Path, tmp_path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Decompress with DCMTK or GDCM (not pydicom) and return the stored values, interleaved samples."""
    syntax = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    native = tmp_path / "second-reader.dcm"
    command = [*SECOND_READERS.get(syntax, ["gdcmconv", "--raw"]), str(path), str(native)]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    assert result.returncode == 0, f"{command[0]} cannot decode {path.name}: {result.stderr[-300:]}"
    data = pydicom.dcmread(native).PixelData
    return np.frombuffer(data[: int(np.prod(shape)) * dtype.itemsize], dtype=dtype.newbyteorder("<")).reshape(shape)


def _flip_block(image: torch.Tensor) -> torch.Tensor:
    """A changed copy: the low bit of a 6x6 block toggled in every channel and frame."""
    changed = image.clone()
    block = changed[..., 3:9, 3:9]
    changed[..., 3:9, 3:9] = (block.to(torch.int64) ^ 1).to(image.dtype)
    return changed


@pytest.mark.parametrize("path", LOADABLE, ids=_id)
def test_changed_pixels_decode_exactly_in_pydicom_and_an_independent_reader(
    path: Path, loader: LoadDicomWithMeta, tmp_path: Path
) -> None:
    image, header, encoded = loader(path)
    changed = _flip_block(image)
    written = SaveDicom(tmp_path)(changed, header, encoded)
    output = pydicom.dcmread(written)
    expected = changed.numpy().transpose(1, 2, 3, 0)  # (F, H, W, C)
    photometric = image.meta["photometric_interpretation"]
    if header.PhotometricInterpretation == "YBR_FULL_422" and header.SOPClassUID.name.startswith("Ultrasound"):
        # sub-sampled YBR of ultrasound: written as RGB (its IODs do not allow YBR_FULL)
        expected, photometric = convert_color_space(expected, "YBR_FULL", "RGB"), "RGB"
    if output.PhotometricInterpretation == "YBR_RCT":  # a JPEG 2000 colour transform, undone by the decoder
        assert (photometric, output.file_meta.TransferSyntaxUID) == ("RGB", "1.2.840.10008.1.2.4.90")
    else:
        assert output.PhotometricInterpretation == photometric
    assert int(output.get("PlanarConfiguration", 0)) == 0
    assert pydicom.uid.UID(output.file_meta.TransferSyntaxUID) in {
        "1.2.840.10008.1.2.1",
        image.meta["transfer_syntax"],
        "1.2.840.10008.1.2.4.90",
    }
    if image.meta["lossy_source"]:
        assert output.LossyImageCompression == "01"
    decoded = pixel_array(output, raw=True).reshape(expected.shape)
    assert np.array_equal(decoded, expected)
    if int(output.BitsAllocated) in (8, 16):
        assert np.array_equal(_second_reader_array(written, tmp_path, expected.shape, expected.dtype), expected)
    dump = subprocess.run(["dcmdump", "-q", str(written)], capture_output=True, text=True, errors="replace")
    assert dump.returncode == 0, dump.stderr


def test_inputs_are_never_modified(loader: LoadDicomWithMeta, tmp_path: Path) -> None:
    path = PYDICOM_TEST_FILES / "CT_small.dcm"
    before = path.read_bytes()
    image, header, encoded = loader(path)
    SaveDicom(tmp_path)(_flip_block(image), header, encoded)
    assert path.read_bytes() == before
    assert "PixelData" not in header  # the saver works on its own copy of the header


def test_loading_quotes_no_header_value_in_warnings_or_logs(
    loader: LoadDicomWithMeta, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An original UID that breaks the UID rules: pydicom's value validation would quote it in a warning and a log.
    uid = "1.2.840.99999.DOE"
    ds = pydicom.dcmread(PYDICOM_TEST_FILES / "CT_small.dcm")
    with pydicom.config.disable_value_validation():
        ds.StudyInstanceUID = uid
        ds.save_as(tmp_path / "invalid_uid.dcm")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG, logger="pydicom"):
        warnings.simplefilter("always")
        _, header, _ = loader(tmp_path / "invalid_uid.dcm")
    assert header.StudyInstanceUID == uid  # read as it is, to be replaced by the scrubber
    said = [str(w.message) for w in caught] + [record.getMessage() for record in caplog.records]
    assert not [text for text in said if "DOE" in text]


def test_jpeg_baseline_frames_load_as_gdcm_decodes_them(loader: LoadDicomWithMeta) -> None:
    # Pillow decodes JPEG Baseline for speed; the values must be GDCM's (pydicom's first plugin), to the last bit.
    source = PYDICOM_DATA_FILES / "color3d_jpeg_baseline.dcm"
    ds = pydicom.dcmread(source)
    expected, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, raw=True, decoding_plugin="gdcm")

    image, _, _ = loader(source)

    assert image.meta["photometric_interpretation"] == "YBR_FULL"
    assert np.array_equal(image.numpy(), expected.transpose(3, 0, 1, 2))


def test_changed_sub_sampled_ultrasound_stays_a_valid_instance(loader: LoadDicomWithMeta, tmp_path: Path) -> None:
    # A JPEG Baseline YBR_FULL_422 ultrasound cine, as most ultrasound exports are: its redacted pixels were written
    # as YBR_FULL, which the ultrasound IODs do not allow.
    source = PYDICOM_DATA_FILES / "color3d_jpeg_baseline.dcm"
    image, header, encoded = loader(source)
    written = SaveDicom(tmp_path)(_flip_block(image), header, encoded)
    assert pydicom.dcmread(written, stop_before_pixels=True).PhotometricInterpretation == "RGB"
    assert not iod_errors(written) - iod_errors(source)


def test_a_name_where_a_uid_belongs_is_not_quoted(loader: LoadDicomWithMeta, tmp_path: Path) -> None:
    ds = pydicom.dcmread(PYDICOM_TEST_FILES / "CT_small.dcm")
    del ds.PixelData
    with pydicom.config.disable_value_validation():
        ds.SOPClassUID = "NIGHTJAR^PTARMIGAN"
        ds.save_as(tmp_path / "name_as_uid.dcm")
    with pytest.raises(MissingPixelDataError) as raised:
        loader(tmp_path / "name_as_uid.dcm")
    assert "NIGHTJAR" not in str(raised.value) and "(not a UID)" in str(raised.value)
