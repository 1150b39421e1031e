import numpy as np
import pytest
from PIL import Image as PILImage

from annotations.masks import (
    MaskError,
    as_label_image,
    count_cells,
    decode_png,
    decode_rle,
    encode_png,
    encode_rle,
    relabel_sequential,
)


def test_it_round_trips_a_real_label_image_through_png_and_rle(u2os_pairs):
    mask = np.array(PILImage.open(u2os_pairs[0][1]))
    assert mask.dtype == np.uint16 and mask.max() > 10
    assert np.array_equal(decode_png(encode_png(mask)), mask)
    assert np.array_equal(decode_rle(encode_rle(mask)), mask)


def test_it_round_trips_edge_cases():
    for mask in (np.zeros((3, 5), np.uint16), np.full((2, 2), 65535, np.uint16), np.arange(12).reshape(3, 4)):
        assert np.array_equal(decode_rle(encode_rle(mask)), mask)
        assert np.array_equal(decode_png(encode_png(mask)), mask)


def test_rle_is_row_major_id_length_pairs():
    mask = np.array([[0, 0, 7], [7, 7, 0]])
    assert encode_rle(mask)["runs"] == [0, 2, 7, 3, 0, 1]


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array([[-1, 0]]), "negative labels"),
        (np.array([[0.5, 1.0]]), "non-integer labels"),
        (np.array([[70000]]), "at most 65535"),
        (np.zeros((2, 2, 2)), "2-D label image"),
        (np.array([["a"]]), "unsupported pixel type"),
    ],
)
def test_it_refuses_bad_label_images(array, message):
    with pytest.raises(MaskError, match=message):
        as_label_image(array)


def test_it_refuses_a_mask_of_the_wrong_shape():
    with pytest.raises(MaskError, match="is 3x2 .* its image is 4x2"):
        as_label_image(np.zeros((2, 3)), (2, 4))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"encoding": "png"}, "must be an object"),
        ({"encoding": "rle", "height": 2, "width": 2, "runs": [1, 3]}, "cover 3 pixels, expected 4"),
        ({"encoding": "rle", "height": 2, "width": 2, "runs": [1, 4, 2]}, "pairs"),
        ({"encoding": "rle", "height": 2, "width": 2, "runs": [1.5, 4]}, "non-integer"),
        ({"encoding": "rle", "height": 2, "width": 2, "runs": [-1, 4]}, "0..65535"),
        ({"encoding": "rle", "height": 2, "width": 2, "runs": [1, 5, 0, -1]}, "positive"),
        ({"encoding": "rle", "height": "x", "width": 2, "runs": []}, "integer height"),
    ],
)
def test_it_refuses_malformed_rle(payload, message):
    with pytest.raises(MaskError, match=message):
        decode_rle(payload)


def test_it_checks_the_rle_shape_against_the_crop():
    with pytest.raises(MaskError, match="crop is 3x2"):
        decode_rle(encode_rle(np.zeros((2, 2))), shape=(2, 3))


def test_relabel_and_count():
    mask = np.array([[0, 9, 9], [4, 0, 9]])
    assert relabel_sequential(mask).tolist() == [[0, 2, 2], [1, 0, 2]]
    assert count_cells(mask) == 2


@pytest.mark.parametrize("runs", [[1, 10**400], [10**400, 4], [1, 1e308, 0, 1e308], [1, 2**63, 0, -(2**63) + 4]])
def test_it_refuses_run_lengths_and_ids_too_large_for_any_number_type(runs):
    """10**400 overflowed the float conversion (OverflowError, a 500); huge finite lengths would
    overflow the sum or the allocation."""
    with pytest.raises(MaskError):
        decode_rle({"encoding": "rle", "height": 2, "width": 2, "runs": runs})


def test_it_refuses_a_mask_too_large_to_allocate():
    with pytest.raises(MaskError, match="height and width"):
        decode_rle({"encoding": "rle", "height": 10**6, "width": 10**6, "runs": [0, 10**12]})
