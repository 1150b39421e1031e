"""COCO instance segmentation (annotations/formats/coco.py), checked with pycocotools itself."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annotations.formats.coco import CocoBuilder, coco_objects, read_coco
from annotations.formats.instances import OverlapRule, paint
from annotations.masks import MaskError
from tests.conftest import DATA

MASK = DATA / "dsb2018_brightfield" / "masks" / "00ae65c1c663.png"


@pytest.fixture
def labels() -> np.ndarray:
    return np.array(PILImage.open(MASK)).astype(np.uint32)


def write(tmp_path, data: dict, name: str = "annotations.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def import_labels(path, image_index: int = 0) -> np.ndarray:
    coco = read_coco(path)
    image = coco.images[image_index]
    labels, _ = paint(coco_objects(coco, image), image.shape, rule=OverlapRule.SMALLER_WINS, name=coco.name)
    return labels


def test_an_export_loads_in_pycocotools_with_exact_masks(tmp_path, labels):
    builder = CocoBuilder(description="test")
    builder.add_image("a.png", labels)
    path = write(tmp_path, builder.dataset())
    coco = COCO(str(path))
    assert coco.loadImgs(1)[0] == {"id": 1, "file_name": "a.png", "width": 320, "height": 256}
    assert coco.loadCats(coco.getCatIds())[0]["name"] == "cell"
    annotations = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert len(annotations) == len(np.unique(labels)) - 1
    for annotation in annotations:
        cell = labels == annotation["id"]  # ids follow the label image's sorted ids 1..N
        assert np.array_equal(coco.annToMask(annotation).astype(bool), cell)
        assert annotation["area"] == cell.sum() and annotation["iscrowd"] == 0


def test_an_export_imports_back_identically(tmp_path, labels):
    builder = CocoBuilder()
    builder.add_image("a.png", np.zeros((5, 7), dtype=np.uint32))
    builder.add_image("b.png", labels)
    path = write(tmp_path, builder.dataset())
    assert np.array_equal(import_labels(path, 1), labels)
    assert import_labels(path, 0).max() == 0


def test_polygons_and_uncompressed_rle_are_read(tmp_path):
    rle = mask_utils.encode(np.asfortranarray(np.pad(np.ones((2, 3), np.uint8), ((1, 3), (2, 1)))))
    uncompressed = {"size": [6, 6], "counts": [8, 2, 4, 2, 4, 2, 14]}  # column-major runs, background first
    data = {
        "images": [{"id": 7, "file_name": "x.png", "width": 6, "height": 6}],
        "annotations": [
            {"id": 1, "image_id": 7, "segmentation": [[0.5, 0.5, 1.5, 0.5, 1.5, 1.5, 0.5, 1.5]]},
            {"id": 2, "image_id": 7, "segmentation": {"size": [6, 6], "counts": rle["counts"].decode()}},
            {"id": 3, "image_id": 7, "segmentation": uncompressed},
            {"id": 4, "image_id": 7, "segmentation": [[0, 0, 5, 0, 5, 5]], "iscrowd": 1},
        ],
    }
    path = write(tmp_path, data)
    coco = read_coco(path)
    assert coco.crowd_skipped == 1
    objects = coco_objects(coco, coco.images[0])
    reference = COCO(str(path))
    for obj, annotation_id in zip(objects, (1, 2, 3), strict=True):
        expected = reference.annToMask(reference.anns[annotation_id]).astype(bool)  # as pycocotools rasterises
        full = np.zeros((6, 6), dtype=bool)
        full[obj.region] = obj.mask
        assert np.array_equal(full, expected) and obj.area > 0


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d["annotations"][0].update(image_id=99), "annotation id 1 refers to image_id 99"),
        (lambda d: d["annotations"][0]["segmentation"].update(size=[5, 6]), "annotation id 1 has an RLE of size"),
        (lambda d: d["annotations"][0]["segmentation"].update(counts=[1, 2]), "annotation id 1: RLE covers 3 pixels"),
        (lambda d: d["annotations"][0]["segmentation"].update(counts="`"), "annotation id 1: the counts string ends"),
        (lambda d: d["annotations"][0]["segmentation"].update(counts="é"), "annotation id 1: .*ascii"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3]]), "annotation id 1 has a malformed polygon"),
        (lambda d: d["images"][0].update(width=-1), "the width of image 'x.png' must be a whole number"),
        (lambda d: d.pop("annotations"), "a COCO file is an object with 'images' and 'annotations'"),
    ],
)
def test_bad_files_are_refused_naming_the_file_and_the_problem(tmp_path, change, message):
    data = {
        "images": [{"id": 1, "file_name": "x.png", "width": 6, "height": 6}],
        "annotations": [{"id": 1, "image_id": 1, "segmentation": {"size": [6, 6], "counts": [36]}}],
    }
    change(data)
    path = write(tmp_path, data, "lab.json")
    with pytest.raises(MaskError, match=f"lab.json: {message}"):
        coco = read_coco(path)
        coco_objects(coco, coco.images[0])


def test_broken_json_is_refused(tmp_path):
    path = tmp_path / "lab.json"
    path.write_text("{not json")
    with pytest.raises(MaskError, match="lab.json: not a readable JSON file"):
        read_coco(path)
