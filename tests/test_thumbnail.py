"""Previews of real files in every colour model the report meets: monochrome, palette, RGB and YBR."""

from __future__ import annotations

import numpy as np
import pydicom
from datafiles import pydicom_data_file, pydicom_test_file
from pydicom.pixels import apply_color_lut

from monai_deid.io import LoadDicomWithMeta
from monai_deid.thumbnail import frame_to_rgb, render_preview


def _rgb(path) -> np.ndarray:
    image, header, _ = LoadDicomWithMeta()(path)
    meta = image.meta
    return frame_to_rgb(image, 0, meta["photometric_interpretation"], header, meta["bits_stored"])


def test_monochrome_is_windowed_to_the_full_8_bit_range() -> None:
    rgb = _rgb(pydicom_test_file("MR_small.dcm"))
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)
    assert rgb.min() == 0 and rgb.max() == 255
    assert (rgb[..., 0] == rgb[..., 1]).all()


def test_palette_goes_through_the_headers_lookup_tables() -> None:
    path = pydicom_data_file("OBXXXX1A.dcm")
    rgb = _rgb(path)
    ds = pydicom.dcmread(path)
    expected = apply_color_lut(ds.pixel_array, ds)
    expected = (expected >> 8).astype(np.uint8) if expected.max() > 255 else expected.astype(np.uint8)
    np.testing.assert_array_equal(rgb, expected)
    assert (rgb[..., 0] != rgb[..., 2]).any(), "a palette image shows colour"


def test_ybr_is_shown_as_the_same_colours_as_its_rgb_original() -> None:
    rgb = _rgb(pydicom_test_file("SC_rgb_rle.dcm")).astype(int)
    from_ybr = _rgb(pydicom_test_file("SC_ybr_full_422_uncompressed.dcm")).astype(int)
    assert np.median(np.abs(rgb - from_ybr)) <= 2


def test_preview_fits_the_box_and_outlines_boxes() -> None:
    image, header, _ = LoadDicomWithMeta()(pydicom_data_file("US1_UNCR.dcm"))
    preview = render_preview(
        image, image.meta["photometric_interpretation"], None, header, 8, 200, [((10, 10, 60, 40), "#ff0000")]
    )
    assert max(preview.size) == 200
    pixels = np.asarray(preview)
    assert ((pixels == (255, 0, 0)).all(axis=2)).sum() > 50
