"""The server's RLE codec and the browser editor's (frontend/static/frontend/editor/codec.js) agree.

Both test suites read the same files in frontend/tests/fixtures/: masks the server encoded from the
shipped label images (the JavaScript tests decode them pixel for pixel), and a mask the editor's
tools made (decoded here). Regenerate with frontend/tests/fixtures/make_python_fixtures.py and
make_js_fixture.mjs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from annotations.masks import count_cells, decode_rle, encode_rle

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "frontend" / "tests" / "fixtures"
MASKS = REPO / "data" / "dsb2018_u2os" / "masks"


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def test_it_wrote_the_crop_fixture_from_a_real_mask():
    fixture = load("u2os_crop.json")
    mask = np.array(PILImage.open(MASKS / "07fb37aafa66.png"))[424:464, 32:80]
    assert fixture["rle"] == encode_rle(mask)
    assert np.array_equal(np.array(fixture["labels"]), mask)
    assert mask.max() > 255, "ids above 255 check that both sides keep 16 bits"


def test_it_wrote_the_whole_mask_fixture_from_a_real_mask():
    mask = np.array(PILImage.open(MASKS / "10ba6cbee487.png"))
    meta = load("u2os_full.meta.json")
    assert load("u2os_full.rle.json") == encode_rle(mask)
    assert hashlib.sha256(mask.astype("<u2").tobytes()).hexdigest() == meta["sha256_uint16le"]
    assert count_cells(mask) == meta["cells"]


def test_it_reads_the_editors_mask_pixel_for_pixel():
    fixture = load("editor_edits.json")
    labels = np.array(fixture["labels"], dtype=np.uint16)
    decoded = decode_rle(fixture["rle"], shape=labels.shape)
    assert decoded.dtype == np.uint16
    assert np.array_equal(decoded, labels)
    assert encode_rle(decoded) == fixture["rle"], "both encoders write the same maximal runs"
    assert set(fixture["edit_counts"]) >= {"delete", "lasso", "polygon", "brush", "merge", "split"}


@pytest.mark.parametrize("name", ["u2os_crop.json", "editor_edits.json"])
def test_its_fixtures_round_trip(name):
    rle = load(name)["rle"]
    assert encode_rle(decode_rle(rle)) == rle
