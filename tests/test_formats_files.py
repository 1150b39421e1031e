"""Label TIFFs and Cellpose training folders (annotations/formats/label_tiff.py, cellpose_folder.py),
read back by tifffile, scikit-image and Cellpose's own reader."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from skimage import io as skio

from annotations.formats.cellpose_folder import example_files, find_pairs
from annotations.formats.label_tiff import label_tiff_bytes, read_labels, write_label_tiff
from annotations.masks import MaskError
from tests.conftest import DATA

IMAGE = DATA / "dsb2018_brightfield" / "images" / "00ae65c1c663.png"
MASK = DATA / "dsb2018_brightfield" / "masks" / "00ae65c1c663.png"


@pytest.fixture
def labels() -> np.ndarray:
    return np.array(PILImage.open(MASK)).astype(np.uint32)


def test_label_tiffs_are_16_bit_when_the_ids_fit(tmp_path, labels):
    path = tmp_path / "a.tif"
    write_label_tiff(path, labels)
    with tifffile.TiffFile(path) as tiff:
        assert tiff.is_imagej and tiff.pages[0].dtype == np.uint16 and tiff.series[0].axes == "YX"
    assert np.array_equal(tifffile.imread(path), labels)
    assert np.array_equal(skio.imread(path), labels)
    assert np.array_equal(read_labels(path, labels.shape), labels)


def test_label_tiffs_are_32_bit_beyond_65535_cells(tmp_path):
    labels = np.arange(70_000, dtype=np.uint32).reshape(200, 350)
    path = tmp_path / "many.tif"
    path.write_bytes(label_tiff_bytes(labels))
    assert tifffile.imread(path).dtype == np.uint32
    assert np.array_equal(read_labels(path), labels)


def test_a_label_image_of_the_wrong_size_is_refused(tmp_path, labels):
    path = tmp_path / "a_masks.tif"
    write_label_tiff(path, labels)
    with pytest.raises(MaskError, match=r"a_masks.tif: the label image is 320x256 .* but its image is 10x20"):
        read_labels(path, (20, 10))


def test_colour_and_fractional_label_images_are_refused(tmp_path):
    rgb = tmp_path / "rgb_masks.png"
    PILImage.fromarray(np.zeros((4, 4, 3), np.uint8)).save(rgb)
    with pytest.raises(MaskError, match="rgb_masks.png: a label image has one channel"):
        read_labels(rgb)
    floats = tmp_path / "f_masks.tif"
    tifffile.imwrite(floats, np.full((4, 4), 1.5, np.float32))
    with pytest.raises(MaskError, match="f_masks.tif: the label image has non-integer values"):
        read_labels(floats)


@pytest.mark.slow  # importing cellpose (and torch) takes seconds
@pytest.mark.parametrize("extension", [".tif", ".png"])
def test_cellpose_pairs_are_read_by_cellpose(tmp_path, labels, extension):
    from cellpose import io as cellpose_io

    pixels = np.array(PILImage.open(IMAGE))[..., :3]
    for name, data in example_files("a", pixels, labels, extension):
        (tmp_path / name).write_bytes(data)
    images, masks, *_ = cellpose_io.load_train_test_data(str(tmp_path), image_filter="_img", mask_filter="_masks")
    assert np.array_equal(images[0], pixels) and np.array_equal(masks[0], labels)
    pairs, unlabelled = find_pairs(tmp_path)
    assert [(p.name, p.image.name, p.labels.name) for p in pairs] == [(f"a{extension}", f"a_img{extension}",
                                                                       f"a_masks{extension}")]
    assert unlabelled == []


def test_png_falls_back_to_tiff_for_what_png_cannot_hold(labels):
    float_image = np.zeros((*labels.shape, 2), dtype=np.float32)
    assert [name for name, _ in example_files("b", float_image, labels, ".png")] == ["b_img.tif", "b_masks.tif"]


def test_pairs_are_found_in_every_layout(tmp_path):
    for name in ("x.png", "x_cp_masks.png", "y_img.tif", "y_masks.tif", "z.png", "w_masks.tif", "x_seg.npy",
                 "x_flows.tif"):
        (tmp_path / name).write_bytes(b"")
    pairs, unlabelled = find_pairs(tmp_path)
    assert [(p.name, p.image and p.image.name, p.labels.name) for p in pairs] == [
        ("w", None, "w_masks.tif"),  # its image may already be in the project
        ("x.png", "x.png", "x_cp_masks.png"),
        ("y.tif", "y_img.tif", "y_masks.tif"),
    ]
    assert [p.name for p in unlabelled] == ["z.png"]
    pairs, unlabelled = find_pairs(DATA / "dsb2018_brightfield")  # images/ + masks/
    assert len(pairs) == 4 and all(p.image.stem == p.labels.stem for p in pairs) and not unlabelled
